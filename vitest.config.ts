import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        // Lifecycle tests drive the real Pulumi engine; each step takes seconds, and a drift step over
        // the admin panel (refresh + preview + up, paced requests) took 55 s on a loaded machine.
        testTimeout: 150_000,
        hookTimeout: 120_000,
        pool: "forks",
        // Two cores: more than two engines at once only makes each slower.
        maxWorkers: 2,
        reporters: ["default"],
    },
});
