import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        // Lifecycle tests drive the real Pulumi engine; each step takes seconds.
        testTimeout: 60_000,
        hookTimeout: 120_000,
        pool: "forks",
        // Two cores: more than two engines at once only makes each slower.
        maxWorkers: 2,
        reporters: ["default"],
    },
});
