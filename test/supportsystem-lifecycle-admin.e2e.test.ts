// The SupportSystem lifecycle suite over the admin-panel transport (issue 15): the same steps as
// supportsystem-lifecycle.e2e.test.ts, with keyfleet:supportsystem.transport = admin.
(globalThis as { __supportsystemTransport?: string }).__supportsystemTransport = "admin";
await import("./supportsystem-lifecycle.e2e.test.ts");
