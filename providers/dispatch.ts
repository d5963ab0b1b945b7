// The provider behind the one shim: each call goes to the vendor named in the resource's inputs
// (`vendor`, the descriptor's section), whose provider is loaded on first use. Configuration (the
// stack config the engine hands over) is passed to each vendor's provider as it loads.
import type * as pulumi from "@pulumi/pulumi";
import { vendors } from "./vendors.ts";
import { reportDetailedDiff } from "./shared/diff.ts";

type Provider = Awaited<ReturnType<(typeof vendors)[number]["provider"]>>;

let config: pulumi.dynamic.ConfigureRequest | undefined;
const loaded = new Map<string, Promise<Provider>>();

function forVendor(vendor: unknown): Promise<Provider> {
    const name = String(vendor ?? "");
    let p = loaded.get(name);
    if (!p) {
        const descriptor = vendors.find((v) => v.section === name);
        if (!descriptor) return Promise.reject(new Error(`this keyfleet has no vendor "${name}" (known: ${vendors.map((v) => v.section).join(", ")}); a resource in state names it`));
        p = descriptor.provider().then(async (provider) => {
            if (config && provider.configure) await provider.configure(config);
            return provider;
        });
        loaded.set(name, p);
    }
    return p;
}

type Props = Record<string, unknown> | undefined;
const vendorOf = (fixed: string | undefined, ...props: Props[]) => fixed ?? props.find((p) => p?.vendor)?.vendor;

/** The dispatching provider; `fixed` pins the vendor for state written before inputs named it. */
export function dispatch(fixed?: string): Required<Pick<pulumi.dynamic.ResourceProvider, "check" | "diff" | "create" | "read" | "update" | "delete">> & {
    configure(req: pulumi.dynamic.ConfigureRequest): Promise<void>;
} {
    return {
        async configure(req) {
            config = req;
            for (const p of loaded.values()) {
                const provider = await p;
                if (provider.configure) await provider.configure(req);
            }
        },
        check: async (olds, news) => {
            const v = vendorOf(fixed, news, olds);
            const p = await forVendor(v);
            return p.check ? p.check(olds, { ...news, vendor: v }) : { inputs: news };
        },
        diff: async (id, olds, news) => {
            const result = await (await forVendor(vendorOf(fixed, news, olds))).diff!(id, olds, news);
            reportDetailedDiff(result);
            return result;
        },
        create: async (inputs) => (await forVendor(vendorOf(fixed, inputs))).create(inputs),
        read: async (id, props) => (await forVendor(vendorOf(fixed, props))).read!(id, props),
        update: async (id, olds, news) => (await forVendor(vendorOf(fixed, news, olds))).update!(id, olds, news),
        delete: async (id, props) => (await forVendor(vendorOf(fixed, props))).delete!(id, props),
    };
}
