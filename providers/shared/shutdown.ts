// Connections a process keeps open for its next call (undici's keep-alive pool, the help desk's
// MySQL pools) also keep Node's event loop alive. The engine's provider process is killed by the
// engine, so that never showed; a command that reads vendors in its own process (`report --live`)
// never exited. Whatever opens such a pool registers its closing here, and those commands call
// `closeConnections()` when they are done.
const closers = new Set<() => Promise<unknown>>();

/** Registers how to close a pool; returns a function that unregisters it. */
export function atShutdown(close: () => Promise<unknown>): () => void {
    closers.add(close);
    return () => closers.delete(close);
}

/** Closes every registered pool (errors ignored: the process is ending); a later call opens new ones. */
export async function closeConnections(): Promise<void> {
    await Promise.all([...closers].map((close) => close().catch(() => undefined)));
}
