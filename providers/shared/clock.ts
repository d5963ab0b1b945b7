// The one clock of the core: token lifetimes, rotation ages and recovery windows read it, so a test
// can move time forward without sleeping (setClock) and every decision sees the same "now".
// KEYFLEET_CLOCK_OFFSET_MS moves it for a whole run (program and provider alike): a preview with it
// set to 30 days shows what will rotate within a month.
const offset = () => Number(process.env.KEYFLEET_CLOCK_OFFSET_MS) || 0;
let source: () => number = () => Date.now() + offset();

export const clock = {
    now: (): number => source(),
};

/** Replaces the clock (tests); returns a function that puts the previous one back. */
export function setClock(now: () => number): () => void {
    const previous = source;
    source = now;
    return () => {
        source = previous;
    };
}

export function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
