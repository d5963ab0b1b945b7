// What tests of a MariaDB server of their own share: scripts/mariadb.sh, where mariadbd is (tests
// that start a server run only where it is installed), and a free loopback port for it.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

export const MARIADB_SCRIPT = path.join(import.meta.dirname, "..", "..", "scripts", "mariadb.sh");

export const mariadbd: string | undefined =
    ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"].find((p) => fs.existsSync(p)) ?? (spawnSync("sh", ["-c", "command -v mariadbd"]).stdout?.toString().trim() || undefined);

/** A loopback port nothing listens on now. */
export async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    return port;
}
