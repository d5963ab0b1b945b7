"use strict";
// The provider objects Pulumi serializes into every key resource's state.
//
// Pulumi's closure serializer captures an object that is the exports of a module inside
// node_modules *by reference*: it writes `require("@keyfleet/provider-shim/nexus.js")` into state
// (about 270 bytes) instead of the object's code. That is why this is a package of its own,
// installed as a copy (.npmrc install-links=true) rather than linked like the workspace: a linked
// module resolves to its real path outside node_modules and would be serialized by value (a
// provider referencing a local module captures that whole module, ~50 KB per resource).
//
// Each method require()s the implementation by package name when it is called, so `read` and
// `delete` of old resources run the current code, and the text in state is the same from any
// checkout or machine (a changed provider text would make the engine replace every resource).
// The dynamic-provider process resolves both names from the project's node_modules.
//
// After editing this folder, `npm ci` refreshes the installed copy (scripts/keyfleet.sh notices).
module.exports = function lazy(specifier) {
    const load = () => require(specifier).provider;
    return {
        configure: (req) => load().configure(req),
        check: (olds, news) => load().check(olds, news),
        diff: (id, olds, news) => load().diff(id, olds, news),
        create: (inputs) => load().create(inputs),
        read: (id, props) => load().read(id, props),
        update: (id, olds, news) => load().update(id, olds, news),
        delete: (id, props) => load().delete(id, props),
    };
};
