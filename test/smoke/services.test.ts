// scripts/services.sh from a second checkout on the same machine: it reuses the PostgreSQL, Redis
// and S3 server that another checkout started (the integration tier's global setup made sure they
// run), and a port taken by some other program is named with the variable that moves it.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/process.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const PORTS = {
  pg: process.env.LORAPLEX_PG_PORT ?? "25432",
  redis: process.env.LORAPLEX_REDIS_PORT ?? "26379",
  s3: process.env.LORAPLEX_S3_PORT ?? "29000",
};

describe("services.sh in a second checkout", () => {
  let checkout: string;
  let squatter: Server | undefined;

  beforeAll(() => {
    // Just the scripts: what a fresh clone has before `make deps`.
    checkout = mkdtempSync(join(tmpdir(), "loraplex-second-checkout-"));
    cpSync(join(ROOT, "scripts"), join(checkout, "scripts"), { recursive: true });
  });
  afterAll(async () => {
    await new Promise((ok) => (squatter ? squatter.close(ok) : ok(undefined)));
    rmSync(checkout, { recursive: true, force: true });
  });

  // Asynchronous: the squatter below lives in this process and must keep answering meanwhile.
  const servicesUp = (env: Record<string, string> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((ok, fail) => {
      const child = spawn("bash", [join(checkout, "scripts/services.sh"), "up"], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => {
        stdout += b.toString();
      });
      child.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
      });
      child.once("error", fail);
      child.once("close", (status) => ok({ status, stdout, stderr }));
    });

  it("reuses the services another checkout started and prints their settings", async () => {
    const run = await servicesUp();
    expect(run.stderr).toContain(
      `reusing the PostgreSQL on :${PORTS.pg} that another Loraplex checkout started`,
    );
    expect(run.stderr).toContain(
      `reusing the Redis on :${PORTS.redis} that another Loraplex checkout started`,
    );
    expect(run.stderr).toContain(
      `reusing the S3 server on :${PORTS.s3} that another Loraplex checkout started`,
    );
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`export REDIS_URL=redis://127.0.0.1:${PORTS.redis}`);
  });

  it("names a port that another program holds and the variable that moves it", async () => {
    const port = await freePort();
    // Accepts and hangs up at once: neither Redis nor free.
    squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((ok) => squatter?.listen(port, "127.0.0.1", ok));
    const run = await servicesUp({ LORAPLEX_REDIS_PORT: String(port) });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(
      `services: port ${port} is in use by another program; free it or set LORAPLEX_REDIS_PORT`,
    );
  });
});
