// A stand-in for HashiCorp Vault's transit engine on loopback: the two calls Pulumi's hashivault://
// secrets provider makes (PUT /v1/transit/encrypt/<key> and /v1/transit/decrypt/<key>, token in
// X-Vault-Token), answered as Vault answers them. It is the offline second provider of the tests: the
// Pulumi CLI accepts only passphrase, awskms, azurekeyvault, gcpkms and hashivault (no base64key), and
// Vault is the one whose API fits in a loopback server. It really encrypts (AES-256-GCM under a key
// that lives in this process only), so a stack's data key is unreadable without it, as with Vault.
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface VaultTransit {
    url: string;
    token: string;
    /** The calls made, by operation and key name (what a test can assert the CLI really used it for). */
    calls: { op: "encrypt" | "decrypt"; key: string }[];
    close(): Promise<void>;
}

export async function startVaultTransit(): Promise<VaultTransit> {
    const token = `hvs.test-${crypto.randomBytes(12).toString("hex")}`;
    const key = crypto.randomBytes(32);
    const calls: VaultTransit["calls"] = [];
    const answer = (res: http.ServerResponse, status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
    };
    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => {
            const m = /^\/v1\/transit\/(encrypt|decrypt)\/([\w.-]+)$/.exec(req.url ?? "");
            if (req.headers["x-vault-token"] !== token) return answer(res, 403, { errors: ["permission denied"] });
            if (!m || (req.method !== "PUT" && req.method !== "POST")) return answer(res, 404, { errors: [] });
            let input: { plaintext?: string; ciphertext?: string };
            try {
                input = JSON.parse(body);
            } catch {
                return answer(res, 400, { errors: ["failed to parse JSON input"] });
            }
            calls.push({ op: m[1] as "encrypt" | "decrypt", key: m[2] });
            if (m[1] === "encrypt") {
                const iv = crypto.randomBytes(12);
                const c = crypto.createCipheriv("aes-256-gcm", key, iv);
                const sealed = Buffer.concat([iv, c.update(Buffer.from(input.plaintext ?? "", "base64")), c.final(), c.getAuthTag()]);
                return answer(res, 200, { data: { ciphertext: `vault:v1:${sealed.toString("base64")}`, key_version: 1 } });
            }
            try {
                const sealed = Buffer.from(String(input.ciphertext).replace(/^vault:v1:/, ""), "base64");
                const d = crypto.createDecipheriv("aes-256-gcm", key, sealed.subarray(0, 12));
                d.setAuthTag(sealed.subarray(sealed.length - 16));
                const plain = Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
                return answer(res, 200, { data: { plaintext: plain.toString("base64") } });
            } catch {
                return answer(res, 400, { errors: ["cipher: message authentication failed"] });
            }
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}`,
        token,
        calls,
        close: () => new Promise((resolve) => server.close(() => resolve())),
    };
}
