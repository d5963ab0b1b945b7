// Plugins end with their engine. The CLI starts each plugin in a process group of its own, so a
// `kill -9` of the `up` (its process group) leaves them running: the dynamic-provider plugin then
// finished a rotation the engine would never record (the old key's expiry set, the new key an
// orphan) and still ran 14 minutes later (issue 17, defect 2). A killed parent sends nothing, and
// a plugin need not have an open call to notice; what always changes is the parent: the plugin is
// handed to init (or a subreaper), so its parent pid changes. Checked twice a second.
const INTERVAL_MS = 500;

/**
 * Exits this process (code 1, after `process.on("exit")` handlers: a plugin's children go with it)
 * as soon as the process that started it is gone. `what` names the plugin in the message on stderr.
 */
export function endWithEngine(what: string): void {
    // The launcher (scripts/keyfleet.sh) names the engine before Node starts: an engine killed while
    // the plugin was still starting would otherwise be missed (the plugin's first parent is then
    // already init). Not passed on: a pulumi run by a command of this plugin has its own engine.
    const named = Number(process.env.KEYFLEET_ENGINE_PID);
    delete process.env.KEYFLEET_ENGINE_PID;
    const engine = Number.isInteger(named) && named > 1 ? named : process.ppid;
    const check = () => {
        if (process.ppid === engine) return;
        process.stderr.write(`keyfleet ${what}: the engine (pid ${engine}) is gone; stopping, mid-operation if need be (the next up reconciles what was cut off)\n`);
        process.exit(1);
    };
    check();
    const timer = setInterval(check, INTERVAL_MS);
    // Never what keeps the plugin alive.
    timer.unref();
}
