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
    const engine = process.ppid;
    const timer = setInterval(() => {
        if (process.ppid === engine) return;
        process.stderr.write(`keyfleet ${what}: the engine (pid ${engine}) is gone; stopping, mid-operation if need be (the next up reconciles what was cut off)\n`);
        process.exit(1);
    }, INTERVAL_MS);
    // Never what keeps the plugin alive.
    timer.unref();
}
