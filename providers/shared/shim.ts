// The provider object Pulumi serializes into every resource's state. It holds nothing but a
// package specifier: each method require()s the implementation by name when it is called. So
// state stays small (a provider that references a local module would capture that module by
// value, ~50 KB per resource), `read` and `delete` of old resources run the current code, and the
// serialized text is the same from any checkout or machine (an absolute path would not be; and a
// changed provider text makes the engine replace every resource). The dynamic-provider process
// resolves the specifier from its working folder, the project, through node_modules/@keyfleet.
import type * as pulumi from "@pulumi/pulumi";

export function lazyProvider<I, O>(specifier: string): pulumi.dynamic.ResourceProvider<I, O> {
    const load = (): Required<pulumi.dynamic.ResourceProvider<I, O>> => require(specifier).provider;
    return {
        configure: (req) => load().configure(req),
        check: (olds, news) => load().check(olds, news),
        diff: (id, olds, news) => load().diff(id, olds, news),
        create: (inputs) => load().create(inputs),
        read: (id, props) => load().read(id, props),
        update: (id, olds, news) => load().update(id, olds, news),
        delete: (id, props) => load().delete(id, props),
    };
}
