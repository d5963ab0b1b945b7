// Creating a key, and nothing else: the vendor's create, retried only where its outcome is known,
// a lost answer resolved by looking the key up (recovery.ts), a name held by the key being replaced
// freed by renaming that key aside (unique names), and anything that fails undone (compensation.ts).
import { clock } from "./clock.ts";
import { Compensation } from "./compensation.ts";
import type { CoreInputs, CoreOutputs, ProbeAnswer } from "./contract.ts";
import type { Core } from "./core.ts";
import { isKind, VendorError } from "./errors.ts";
import { interruptedKey, madeSince, pendingCreate, skewed, type InterruptedFind, type Result } from "./recovery.ts";

/** Where an earlier run's attempt of this create lost its answer and could not look: what it made is this create's key. */
export interface Resume {
    since: number;
    /** Keys that are surely not what it made (the key being rotated, the previous slot's). */
    except: string[];
}

export interface CreateOptions<O> {
    /** What keyfleet did that the YAML did not spell out, for the `note` output. */
    note: string | null;
    /** Run once the new key exists and passed its probe; a failure undoes the create. */
    promote?: (outs: O) => Promise<void>;
    resume?: Resume;
}

const INTERRUPTED = "took over the key that a create cut off by an interrupted run had made";

/** Creates a key; see the file's comment. A lost answer is resolved by looking the key up, never by repeating the create blindly. */
export function createKey<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, inputs: I, req: CreateOptions<O>): Promise<Result<O>> {
    return new Creation(core, c, inputs, req).run();
}

class Creation<I extends CoreInputs, O extends I & CoreOutputs, R, C> {
    private readonly except: Set<string>;
    private readonly done: Compensation<I, O, R, C>;
    private note: string | null;
    /** Why a lost create's key may have been missed (a clock off), when that is the likely cause. */
    private skew?: string;
    /** Why a key that a killed run may have made was not taken over, when one was seen. */
    private passedOver?: string;
    /** When an earlier attempt of this create lost its answer: it may commit late. */
    private lostAt?: number;
    /** Whether a refused name was looked up for a killed run's key (once). */
    private lookedForInterrupted = false;

    private readonly core: Core<I, O, R, C>;
    private readonly c: C;
    private readonly inputs: I;
    private readonly req: CreateOptions<O>;

    constructor(
        core: Core<I, O, R, C>,
        c: C,
        inputs: I,
        req: CreateOptions<O>,
    ) {
        this.core = core;
        this.c = c;
        this.inputs = inputs;
        this.req = req;
        this.except = new Set(req.resume?.except ?? []);
        this.done = new Compensation(core, c, inputs);
        this.note = req.note;
    }

    async run(): Promise<Result<O>> {
        const { inputs } = this;
        if (this.req.resume) await this.resume(this.req.resume);
        // Where names are not unique the vendor would take a second key with the same marker, so a
        // create looks first (one query) for the key a killed run made.
        if (!this.done.made && inputs.interrupted && !this.core.v.uniqueNames && !(await this.recover(await this.interrupted(), INTERRUPTED)) && this.passedOver) {
            // Another insert would only add to the keys nobody knows: the operator picks.
            return this.abandon(new VendorError("conflict", "the entry's marker is already on keys keyfleet did not record", { hint: "" }));
        }
        for (let attempt = 1; !this.done.made; attempt++) {
            const discovery = this.core.v.discovery;
            const started = discovery?.now ? await discovery.now(this.c).catch(() => clock.now()) : clock.now();
            try {
                this.done.made = await this.core.v.backend.create(this.c, { inputs });
            } catch (caught) {
                if (!(await this.failed(caught, attempt, started))) return this.abandon(caught);
            }
        }
        return this.finish(this.done.made);
    }

    private async resume(resume: Resume): Promise<void> {
        let found: R[];
        try {
            found = await madeSince(this.core, this.c, this.inputs, resume.since, this.except);
        } catch (err) {
            throw this.core.fail("creating", this.inputs, err);
        }
        if (!(await this.recover(found[0]))) this.lostAt = resume.since;
    }

    /**
     * After a failed create attempt: true when the key is now this create's (taken over) or the
     * create should be tried again; false when it failed for good. Throws what cannot be undone.
     */
    private async failed(caught: unknown, attempt: number, started: number): Promise<boolean> {
        // A success keyfleet cannot read (a proxy's HTML page, JSON cut short, another shape) may have
        // made the key: its outcome is unknown, and the key is looked up as after a lost answer.
        // Refused as invalid, it stayed at the vendor holding the name (409/4008 at every later up).
        // When the lookup finds nothing, the vendor's own answer is told.
        const unreadable = isKind(caught, "invalidAnswer") && !caught.notProcessed ? caught : undefined;
        const err = unreadable ? new VendorError("outcomeUnknown", `the answer to the create could not be read (${unreadable.vendorMessage}), so the key may have been made`, { code: unreadable.code }) : caught;
        if (isKind(err, "conflict")) return this.conflict(attempt);
        if (!isKind(err, "outcomeUnknown")) return false;
        if (!this.core.v.discovery) return this.abandon(new VendorError("outcomeUnknown", err.vendorMessage, { hint: this.core.v.model.lostCreate }));
        let found: R[];
        try {
            found = await madeSince(this.core, this.c, this.inputs, started, this.except);
        } catch {
            // The vendor cannot be asked now: record what was attempted, so the next up looks again.
            // The old key keeps its aside name and stays valid: the lost key may hold the name now.
            throw pendingCreate(this.core, this.inputs, started, err);
        }
        if (await this.recover(found[0])) return true;
        this.lostAt ??= started;
        // Not made as far as the vendor can tell; a late commit is caught as a conflict.
        if (attempt < 3) return true;
        return this.abandon(unreadable ?? err);
    }

    /** The name is taken: by a late commit of a lost attempt, by the key being replaced, or by a killed run's key. */
    private async conflict(attempt: number): Promise<boolean> {
        const { core, c, inputs } = this;
        if (this.lostAt !== undefined) {
            // The lost attempt committed after all (late): take over what it made.
            let late: R | undefined;
            try {
                late = (await madeSince(core, c, inputs, this.lostAt, this.except))[0];
                if (!late) this.skew = await skewed(core, c, inputs, this.lostAt, this.except);
            } catch (e) {
                return this.abandon(e);
            }
            if (await this.recover(late)) return true;
        }
        const names = core.v.uniqueNames;
        if (names && inputs.predecessor && !this.done.aside && attempt <= 2) {
            // Only the very key this one replaces may be moved aside.
            let holder: R | undefined;
            try {
                holder = (await core.candidates(c, inputs)).find((r) => core.v.model.resourceId(r) === inputs.predecessor);
                if (holder) {
                    const stamp = new Date(clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
                    await names.rename(c, holder, asideName(inputs.name, stamp, core.v.model.resourceId(holder), names.nameMax));
                    this.done.aside = holder;
                    this.except.add(core.v.model.resourceId(holder));
                }
            } catch (e) {
                return this.abandon(e);
            }
            if (holder) return true;
        }
        if (inputs.interrupted && names && !this.lookedForInterrupted) {
            // Not by the key this one replaces: by the key a killed run made for this resource, maybe.
            // (After that rename: a rotation's own lookups stay as they were.)
            this.lookedForInterrupted = true;
            if (await this.recover(await this.interrupted(), INTERRUPTED)) return true;
        }
        return false;
    }

    private async interrupted(): Promise<R | undefined> {
        let result: InterruptedFind<R>;
        try {
            result = await interruptedKey(this.core, this.c, this.inputs, this.except);
        } catch (e) {
            return this.abandon(e);
        }
        if (result.passedOver) this.passedOver = result.passedOver;
        return result.found;
    }

    /**
     * Takes over a key keyfleet made but never heard of (an answer lost, late, or cut off by a killed
     * run), completed as create would have returned it: the one way such a key becomes this
     * resource's. False when there is none.
     */
    private async recover(found: R | undefined, why?: string): Promise<boolean> {
        if (!found) return false;
        try {
            this.done.made = await this.core.reveal(this.c, found, this.inputs);
        } catch (e) {
            this.done.made = found;
            return this.abandon(e);
        }
        if (why) this.note ??= why;
        return true;
    }

    private async finish(made: R): Promise<Result<O>> {
        const { core, c, inputs } = this;
        try {
            const key = await core.converge(c, inputs, await this.complete(made), "creating");
            const outs = core.makeOutputs(inputs, key, undefined, this.note);
            // Nothing is promoted unproven: a failed probe (or whatever promote does) undoes the create.
            await verify(core, c, inputs, outs);
            if (this.req.promote) await this.req.promote(outs);
            return { id: core.v.model.resourceId(key), outs };
        } catch (err) {
            return this.abandon(err);
        }
    }

    /**
     * A create whose answer lacks the key value (a vendor that shows it only through a separate
     * call, discovery.reveal) is completed now; if that fails, finish undoes the create, so a key
     * nobody can read is never left behind.
     */
    private async complete(made: R): Promise<R> {
        const { core, c, inputs } = this;
        const discovery = core.v.discovery;
        if (!discovery?.reveal || core.valueOf(core.v.model.outputs(inputs, made) as Record<string, unknown>) !== null) return made;
        try {
            return await discovery.reveal(c, made, inputs);
        } catch (err) {
            if (!(err instanceof VendorError)) throw err;
            throw new VendorError(err.kind, `reading the new key's value failed: ${err.vendorMessage}`, { code: err.code, hint: err.hint });
        }
    }

    private async abandon(err: unknown): Promise<never> {
        const left = await this.done.undo();
        const error = this.core.fail("creating", this.inputs, err);
        if (this.skew) error.message += `; ${this.skew}`;
        if (this.passedOver) error.message += `; ${this.passedOver}`;
        if (left.length > 0) error.message += `; also, ${left.join("; ")}`;
        throw error;
    }
}

/** With rotation.verify: probes the new key on the vendor's usage endpoint; throws when the vendor does not accept it. */
async function verify<I extends CoreInputs, O extends I & CoreOutputs, R, C>(core: Core<I, O, R, C>, c: C, inputs: I, outs: O): Promise<void> {
    if (!inputs.rotation?.verify) return;
    if (!core.v.verify) throw new Error(`${core.v.model.title} keys cannot be verified (the vendor has no usage endpoint without side effects); set rotation.verify: false for this key`);
    let answer: ProbeAnswer;
    try {
        answer = await core.v.verify.probe(c, { state: outs });
    } catch (err) {
        throw new Error(`verifying the new key failed: the probe got no usable answer (${(err as Error).message}); the new key was not promoted`);
    }
    if (!answer.accepted) {
        const current = inputs.predecessor ? ` and the current key ${inputs.predecessor} was kept` : "";
        throw new Error(
            `verifying the new key failed: ${answer.probe} answered ${JSON.stringify(answer.answer)}, not what the key's probe expects; the new key was deleted${current}. ` +
                "Check the probe settings (probeUrl, probeExpect) and the key's rights at the vendor",
        );
    }
}

/**
 * The name a key carries while its successor takes its name, within the vendor's length limit. It
 * carries the key's own id (its resource id: a record id, or a fingerprint where the id is the key),
 * so that two keys whose names share their first characters never get the same aside name: with a
 * stamp alone, two SupportCenter keys (50 characters) sharing their first 18, rotated in one up,
 * collided and the second failed with 4008. The id is kept whole; what gives way is the stamp's time
 * of day, then the stamp, then the name (at least ASIDE_KEEP characters of it where that fits).
 */
export function asideName(name: string, stamp: string, id: string, max = 255): string {
    const day = stamp.slice(0, 10);
    const suffixes = [` (replaced ${stamp}, ${id})`, ` (replaced ${day}, ${id})`, ` (${id})`];
    const keep = Math.min(name.length, ASIDE_KEEP);
    const suffix = suffixes.find((s) => s.length + keep <= max) ?? suffixes[suffixes.length - 1];
    return (name.slice(0, Math.max(0, max - suffix.length)) + suffix).slice(0, max);
}

/** The characters of a key's name its aside name keeps, where the vendor's limit allows: enough to tell it in a list. */
const ASIDE_KEEP = 8;
