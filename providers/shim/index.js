"use strict";
// The provider object Pulumi serializes into every key resource's state.
//
// Pulumi's closure serializer captures an object that is the exports of a module inside
// node_modules *by reference*: it writes `require("@keyfleet/provider-shim")` into state (a few
// hundred bytes) instead of the object's code. That is why this is a package of its own, installed
// as a copy (.npmrc install-links=true) rather than linked like the workspace: a linked module
// resolves to its real path outside node_modules and would be serialized by value.
//
// Each method require()s the implementation when it is called, so `read` and `delete` of old
// resources run the current code, and the text in state is the same from any checkout or machine.
// `#dispatch` is where the package.json that holds this file says it is: this folder's, in a
// checkout (@keyfleet/providers by name), or the built keyfleet package's (its own providers/, and
// then state says `require("keyfleet/shim")`). The implementation (providers/dispatch.ts)
// hands each call to the vendor the resource's inputs name, so every vendor shares this one shim.
//
// After editing this folder, `npm ci` refreshes the installed copy (scripts/keyfleet.sh notices).
function shim(fixedVendor) {
    const load = () => require("#dispatch").dispatch(fixedVendor);
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

module.exports = shim(undefined);
/** A shim pinned to one vendor, for state written before inputs named the vendor. */
module.exports.pinned = shim;
