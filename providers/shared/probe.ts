// Verification of a new key before it is promoted (rotation.verify): each vendor that can says how to
// use a key once on its usage endpoint without side effect (its client sends the request; see
// the vendor's verify.probe), and this holds what every vendor's probe shares: the two stack settings of a
// real deployment (the URL, and the answers that mean "the key was accepted") and their reading.
import type { ProbeAnswer } from "./contract.ts";
import type { SettingSpec } from "./settings.ts";

/**
 * The probe settings of a vendor section: `<section>.probeUrl` (default: the vendor's documented
 * side-effect-free endpoint on its configured URL) and `<section>.probeExpect` (the answers that
 * mean the key was accepted). Neither is needed to run; only `verify: true` reads them.
 */
export function probeSettings(section: string, envPrefix: string, defaults: { url: string; expect: string }): [SettingSpec & { needed(): boolean }, SettingSpec & { needed(): boolean }] {
    return [
        { key: `${section}.probeUrl`, env: `${envPrefix}_PROBE_URL`, url: true, needed: () => false, about: `URL a new key is probed on with verify: true (default ${defaults.url})` },
        {
            key: `${section}.probeExpect`,
            env: `${envPrefix}_PROBE_EXPECT`,
            default: defaults.expect,
            check: (v) => (parseExpect(v) ? undefined : `must be a comma-separated list of HTTP statuses, each optionally with ":<text the answer contains>" (like 200 or 400,401:not authorized); it is "${v}"`),
            needed: () => false,
            about: `answers of the probe that mean the key was accepted (default ${defaults.expect})`,
        },
    ];
}

type Expectation = { status: number; contains?: string }[];

/** `200` or `400,401:API key not authorized`: statuses, each optionally with text the answer must contain. */
export function parseExpect(text: string): Expectation | undefined {
    const out: Expectation = [];
    for (const part of text.split(",")) {
        const m = /^\s*([1-5][0-9][0-9])\s*(?::(.+))?$/.exec(part);
        if (!m) return undefined;
        out.push({ status: Number(m[1]), contains: m[2]?.trim() || undefined });
    }
    return out.length > 0 ? out : undefined;
}

/** The probe's verdict on an HTTP answer; the answer is quoted shortened, with the key blanked out. */
export function judge(answer: { probe: string; status: number; text: string }, expect: string, key: string): ProbeAnswer {
    const wanted = parseExpect(expect) ?? [];
    const accepted = wanted.some((w) => w.status === answer.status && (w.contains === undefined || answer.text.includes(w.contains)));
    let text = answer.text.replace(/\s+/g, " ").trim();
    if (key) text = text.split(key).join("[key]");
    if (text.length > 200) text = `${text.slice(0, 200)}…`;
    return { probe: answer.probe, accepted, answer: `${answer.status}${text ? ` ${text}` : ""}` };
}
