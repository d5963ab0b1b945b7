// Compensation, written once: what a create made before it failed is undone, so that nothing is
// half-applied. The new key is deleted, and an old key renamed aside for it gets its name back.
// What cannot be undone is said, for the error, with what to do.
import type { CoreInputs, CoreOutputs } from "./contract.ts";
import type { Core } from "./core.ts";

export class Compensation<I extends CoreInputs, O extends I & CoreOutputs, R, C> {
    /** The key this create made or took over. */
    made?: R;
    /** The key renamed aside so that the new one could take its name. */
    aside?: R;

    private readonly core: Core<I, O, R, C>;
    private readonly c: C;
    private readonly inputs: I;

    constructor(
        core: Core<I, O, R, C>,
        c: C,
        inputs: I,
    ) {
        this.core = core;
        this.c = c;
        this.inputs = inputs;
    }

    /** Undoes what was done; returns what is left to the operator. */
    async undo(): Promise<string[]> {
        const { model, backend, uniqueNames } = this.core.v;
        const left: string[] = [];
        if (this.made) {
            const id = model.resourceId(this.made);
            await backend.delete(this.c, { state: this.core.makeOutputs(this.inputs, this.made) }).catch((e: Error) => left.push(`the new key ${id} is still at the vendor (${e.message}); delete it there`));
        }
        if (this.aside && uniqueNames) {
            const id = model.resourceId(this.aside);
            await uniqueNames.rename(this.c, this.aside, this.inputs.name).catch((e: Error) => left.push(`the old key ${id} kept its aside name (${e.message}); run up again`));
        }
        return left;
    }
}
