// SupportCenter Plus's expiry notifications (one setting per instance: whether the product mails
// before a key expires, how many days before, to which SDAdmins and whether to each key's owner) as
// one resource of its own, declared from the `notifications:` block of the supportcenter: section.
//
// Evidence: the product's web-client script (GET/PUT /api/v3/integration_keys/_get_ and
// _update_notification_settings; see client.ts). The resource is served by the same provider shim
// and dispatcher as the keys (its inputs name the vendor), and the supportcenter provider hands it
// here by its `kind`.
//
// Why these choices:
// - A field the YAML leaves out (null) is the product's to keep: it is sent as read and never
//   diffed, as the web client itself sends the read setting when it only switches notifications off.
// - delete restores the setting as this resource found it when it was created (recorded in state
//   as `found`): no source gives the product's default, and "as found" is what the instance had
//   before keyfleet managed it.
// - Technicians are named by login in the YAML and sent as {id, name}; the ids come from the
//   SDAdmin technician list (the same list the web client's picker reads). A technician the product
//   no longer lists reads back as `user <id>`, which no YAML login matches: a drift.
import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { isKind, operationFailed, VendorError } from "../shared/errors.ts";
import { Settings, type RawConfig } from "../shared/settings.ts";
import { SupportCenterClient, type ScpNotificationSettings, type ScpOwner, type ScpUser } from "./client.ts";
import { Login, NOTIFY_DAYS_MAX, parseOwners, SCP_SETTINGS } from "./schema.ts";

export const NOTIFICATIONS_KIND = "notificationSettings";
/** The resource id: one setting per instance. */
const ID = "expiry-notifications";

export interface NotificationInputs {
    vendor: string;
    kind: typeof NOTIFICATIONS_KIND;
    enabled: boolean;
    /** null: as the product has it. */
    days: number | null;
    /** Logins, sorted; null: as the product has it. */
    technicians: string[] | null;
    owner: boolean | null;
}

export interface NotificationOutputs extends NotificationInputs {
    /** The setting as this resource found it at create, restored by delete. */
    found: ScpNotificationSettings | null;
}

const Inputs = z.object({
    enabled: z.boolean(),
    days: z.number().int().min(1).max(NOTIFY_DAYS_MAX).nullish(),
    technicians: z.array(Login).nullish(),
    owner: z.boolean().nullish(),
});

const FIELDS = ["enabled", "days", "technicians", "owner"] as const;

function canonical(raw: Record<string, unknown>): NotificationInputs {
    const techs = raw.technicians as string[] | null | undefined;
    return {
        vendor: String(raw.vendor ?? "supportcenter"),
        kind: NOTIFICATIONS_KIND,
        enabled: raw.enabled === true,
        days: typeof raw.days === "number" ? raw.days : null,
        technicians: Array.isArray(techs) ? [...new Set(techs)].sort() : null,
        owner: typeof raw.owner === "boolean" ? raw.owner : null,
    };
}

/** The fields the YAML sets that differ from what the product has (state after a refresh). */
export function changedFields(have: Partial<NotificationInputs>, want: NotificationInputs): string[] {
    return FIELDS.filter((f) => want[f] !== null && JSON.stringify(have[f] ?? null) !== JSON.stringify(want[f]));
}

interface Connection {
    client: SupportCenterClient;
    owners: ScpOwner[];
}

const settings = new Settings();

function connect(): Connection {
    const [urlSpec, ownersSpec] = SCP_SETTINGS;
    const client = new SupportCenterClient(settings.require(urlSpec));
    const { owners, problems } = parseOwners(settings.require(ownersSpec));
    if (owners.size === 0) throw new Error(`keyfleet:supportcenterOwners names no owner, and the notification setting needs an SDAdmin to act as${problems.length > 0 ? ` (${problems.join("; ")})` : ""}`);
    return { client, owners: [...owners].map(([login, c]) => ({ login, ...c })) };
}

/** A call as any owner the stack has (any SDAdmin may change the setting); the next on a refusal of the credentials. */
async function asAnyOwner<T>(c: Connection, work: (o: ScpOwner) => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
        try {
            return await work(c.owners[i]);
        } catch (err) {
            if (i + 1 >= c.owners.length || !isKind(err, "unauthorized", "forbidden")) throw err;
        }
    }
}

const FIXES = {
    forbidden: "only SDAdmins change the expiry-notification setting: give an SDAdmin's technician key and password in keyfleet:supportcenterOwners",
    rejected: "check supportcenter.notifications in the YAML (technicians must be SDAdmins with an email address)",
    notFound: "this SupportCenter Plus build has no notification-settings API (Admin > Integration Key > notification settings); remove supportcenter.notifications from the YAML",
};

function failed(op: string, err: unknown): Error {
    return operationFailed(op, "SupportCenter Plus expiry-notification setting", err, FIXES);
}

/** The YAML's logins as {id, name}, before any write; an unknown one is refused with the SDAdmins the instance has. */
function techniciansFor(logins: string[], users: ScpUser[]): { id: string; name: string }[] {
    return logins.map((login) => {
        const u = users.find((x) => x.login === login);
        if (!u) {
            throw new VendorError("rejected", `SupportCenter Plus has no SDAdmin technician with the login "${login}" (it has ${users.map((x) => `"${x.login}"`).join(", ")})`, {
                hint: "notifications.technicians names SDAdmins by login (the product notifies SDAdmins with an email address only)",
            });
        }
        return { id: u.id, name: u.name };
    });
}

/** The setting as state holds it: logins for ids. */
function asInputs(base: NotificationInputs, s: ScpNotificationSettings, users: ScpUser[]): NotificationInputs {
    return {
        ...base,
        enabled: s.enabled,
        days: base.days === null ? null : s.days,
        technicians: base.technicians === null ? null : s.technicians.map((t) => users.find((u) => u.id === t.id)?.login ?? `user ${t.id}`).sort(),
        owner: base.owner === null ? null : s.owner,
    };
}

/** What to send: the YAML's fields over what the product has. */
async function wanted(c: Connection, inputs: NotificationInputs, have: ScpNotificationSettings, users: ScpUser[]): Promise<ScpNotificationSettings> {
    return {
        enabled: inputs.enabled,
        days: inputs.days ?? have.days,
        technicians: inputs.technicians === null ? have.technicians : techniciansFor(inputs.technicians, users),
        owner: inputs.owner ?? have.owner,
    };
}

async function apply(c: Connection, inputs: NotificationInputs): Promise<{ set: ScpNotificationSettings; before: ScpNotificationSettings; users: ScpUser[] }> {
    return asAnyOwner(c, async (o) => {
        const [before, users] = await Promise.all([c.client.getNotificationSettings(o), c.client.listUsers(o)]);
        const set = await c.client.updateNotificationSettings(o, await wanted(c, inputs, before, users));
        return { set, before, users };
    });
}

export const notificationsProvider = {
    async configure(req: { config: RawConfig }) {
        settings.configure(req.config);
    },

    async check(_olds: unknown, news: Record<string, unknown>) {
        const parsed = Inputs.safeParse(news);
        if (!parsed.success) return { inputs: news, failures: parsed.error.issues.map((i) => ({ property: String(i.path[0] ?? "notifications"), reason: i.message })) };
        return { inputs: canonical(news) as unknown as Record<string, unknown> };
    },

    async diff(_id: string, olds: NotificationOutputs, news: NotificationInputs) {
        const changed = changedFields(olds, canonical(news as unknown as Record<string, unknown>));
        // The fields by name, so the plan shows the product's value against the YAML's.
        const detailedDiff = Object.fromEntries(changed.map((f) => [f, "update" as const]));
        return { changes: changed.length > 0, replaces: [], deleteBeforeReplace: false, detailedDiff };
    },

    async create(raw: NotificationInputs) {
        const inputs = canonical(raw as unknown as Record<string, unknown>);
        try {
            const { set, before, users } = await apply(connect(), inputs);
            return { id: ID, outs: { ...asInputs(inputs, set, users), found: before } satisfies NotificationOutputs };
        } catch (err) {
            throw failed("setting", err);
        }
    },

    async read(id: string, props: NotificationOutputs) {
        const base = canonical(props as unknown as Record<string, unknown>);
        try {
            const c = connect();
            const { now, users } = await asAnyOwner(c, async (o) => ({ now: await c.client.getNotificationSettings(o), users: await c.client.listUsers(o) }));
            return { id, props: { ...asInputs(base, now, users), found: props.found ?? null } satisfies NotificationOutputs };
        } catch (err) {
            throw failed("reading", err);
        }
    },

    async update(_id: string, olds: NotificationOutputs, raw: NotificationInputs) {
        const inputs = canonical(raw as unknown as Record<string, unknown>);
        try {
            const { set, users } = await apply(connect(), inputs);
            return { outs: { ...asInputs(inputs, set, users), found: olds.found ?? null } satisfies NotificationOutputs };
        } catch (err) {
            throw failed("updating", err);
        }
    },

    async delete(_id: string, props: NotificationOutputs) {
        // Restores the setting as found at create; without that record there is nothing to restore.
        if (!props.found) return;
        const found = props.found;
        try {
            const c = connect();
            await asAnyOwner(c, async (o) => {
                const users = await c.client.listUsers(o);
                // A technician deleted since cannot be restored: the others are.
                const technicians = found.technicians.filter((t) => users.some((u) => u.id === t.id));
                await c.client.updateNotificationSettings(o, { ...found, technicians, enabled: found.enabled && (technicians.length > 0 || found.owner) });
            });
        } catch (err) {
            throw failed("restoring", err);
        }
    },
};

type KeysProvider = pulumi.dynamic.ResourceProvider & { configure?(req: { config: RawConfig }): Promise<void> };

/** The supportcenter provider: notification settings by their kind, keys otherwise. */
export function withNotifications<P extends KeysProvider>(keys: P): P {
    const isSettings = (...props: unknown[]) => props.some((p) => (p as { kind?: unknown } | undefined)?.kind === NOTIFICATIONS_KIND);
    const n = notificationsProvider as unknown as Required<pulumi.dynamic.ResourceProvider>;
    return {
        ...keys,
        async configure(req: { config: RawConfig }) {
            await notificationsProvider.configure(req);
            await keys.configure?.(req);
        },
        check: (olds, news) => (isSettings(news) ? n.check(olds, news) : keys.check!(olds, news)),
        diff: (id, olds, news) => (isSettings(news, olds) ? n.diff(id, olds, news) : keys.diff!(id, olds, news)),
        create: (inputs) => (isSettings(inputs) ? n.create(inputs) : keys.create(inputs)),
        read: (id, props) => (isSettings(props) ? n.read(id, props) : keys.read!(id, props)),
        update: (id, olds, news) => (isSettings(news, olds) ? n.update(id, olds, news) : keys.update!(id, olds, news)),
        delete: (id, props) => (isSettings(props) ? n.delete(id, props) : keys.delete!(id, props)),
    } as P;
}

const shim: pulumi.dynamic.ResourceProvider = createRequire(import.meta.url)("#provider-shim");

export interface NotificationArgs {
    enabled: boolean;
    days?: number | null;
    technicians?: string[] | null;
    owner?: boolean | null;
}

/** The instance's expiry-notification setting; served by the shim like every key. */
export class SupportCenterNotificationSettings extends pulumi.dynamic.Resource {
    declare readonly enabled: pulumi.Output<boolean>;
    declare readonly days: pulumi.Output<number | null>;
    declare readonly technicians: pulumi.Output<string[] | null>;
    declare readonly owner: pulumi.Output<boolean | null>;

    constructor(name: string, args: NotificationArgs, opts?: pulumi.CustomResourceOptions) {
        const props = {
            vendor: "supportcenter",
            kind: NOTIFICATIONS_KIND,
            enabled: args.enabled,
            days: args.days ?? null,
            technicians: args.technicians ?? null,
            owner: args.owner ?? null,
            found: undefined,
        };
        super(shim, name, props, opts, "supportcenter", "NotificationSettings");
    }
}
