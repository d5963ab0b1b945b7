// Adoption, written once: `adopt: true` (the key with this name) or `adopt: "<id>"` takes over a key
// that exists at the vendor instead of making one, once, on creation. A key adopted past its
// rotation age is replaced in the same run, as the preview said (check looks it up for that).
import { clock } from "./clock.ts";
import type { CoreInputs, CoreOutputs } from "./contract.ts";
import type { Core } from "./core.ts";
import { createKey } from "./create.ts";
import type { Result } from "./recovery.ts";
import { rotationReason } from "./rotation.ts";

/** The key `adopt:` names among the vendor's keys with this name, or by id. */
async function adoptee<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, inputs: I, byId: boolean): Promise<R | undefined> {
    const discovery = core.v.discovery;
    const all = await core.candidates(c, inputs);
    const found = inputs.adopt === true ? all[0] : all.find((r) => discovery?.adopts?.(r, String(inputs.adopt)));
    if (!found && byId && inputs.adopt !== true && discovery?.findById) return discovery.findById(c, String(inputs.adopt));
    return found;
}

/** The adopted key (rotated at once where it is past its age), or undefined when the vendor has no such key. */
export async function adopt<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, inputs: I): Promise<Result<O> | undefined> {
    const { model, backend, discovery } = core.v;
    let found: R | undefined;
    try {
        found = await adoptee(core, c, inputs, true);
    } catch (err) {
        throw core.fail("adopting", inputs, err);
    }
    if (!found) return undefined;
    const refusal = discovery?.adoptable?.(found, inputs);
    if (refusal) throw new Error(`adopting ${model.describe(inputs)} failed: ${refusal}`);
    try {
        found = await core.reveal(c, found, inputs);
    } catch (err) {
        throw core.fail("adopting", inputs, err);
    }
    const key = await core.converge(c, inputs, found, "adopting");
    const outs = core.makeOutputs(inputs, key, undefined, "adopted");
    const due = rotationReason(inputs, outs.created, inputs, clock.now(), core.standingOf(inputs));
    if (!due) return { id: model.resourceId(key), outs };
    const fresh = await createKey(core, c, { ...inputs, predecessor: model.resourceId(key) }, { note: `adopted, then rotated: ${due}` });
    try {
        await backend.delete(c, { state: outs });
    } catch (err) {
        // The new key is made and must reach state; the old one is named for the user to delete.
        fresh.outs.note = `adopted, then rotated: ${due}; the adopted key ${model.resourceId(key)} could not be deleted (${(err as Error).message}); delete it at the vendor`;
    }
    return fresh;
}

/** For the preview: the rotation an adopted key is due at once ("rotation due: adopted key …"), or undefined. */
export async function adoptionDue<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, inputs: I, now: number): Promise<string | undefined> {
    try {
        const c = core.v.backend.connect(core.settings, inputs);
        const found = await adoptee(core, c, inputs, false);
        const created = found ? core.v.model.outputs(inputs, found).created : undefined;
        const due = created ? rotationReason(inputs, created, inputs, now, core.standingOf(inputs)) : undefined;
        return due ? `rotation due: adopted key ${due}` : undefined;
    } catch {
        // The preview goes without the detail; create reports any real failure.
        return undefined;
    }
}
