// Throw-away PostgreSQL, Redis and S3 servers for tests that stop them for real (an outage must
// not disturb the shared servers other test files use) or must see all of a server's state (every
// unfinished multipart upload). Same servers as scripts/services.sh.
import { execFileSync, spawn } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "./process.ts";

function pgBin(): string {
  const versions = readdirSync("/usr/lib/postgresql").sort((a, b) => Number(a) - Number(b));
  return `/usr/lib/postgresql/${versions.at(-1)}/bin`;
}

// Postgres refuses to run as root: run its tools as the `postgres` user when we are root.
const asOwner = (cmd: string, args: string[]) =>
  process.getuid?.() === 0
    ? (["runuser", ["-u", "postgres", "--", cmd, ...args]] as const)
    : ([cmd, args] as const);

export type DedicatedPostgres = { url: string; port: number; stop(): void; start(): void; destroy(): void };

export async function startDedicatedPostgres(): Promise<DedicatedPostgres> {
  const dir = mkdtempSync(join(tmpdir(), "loraplex-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "postgres.log");
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
    writeFileSync(log, "");
    chownSync(log, uid, gid);
  }
  const port = await freePort();
  const bin = pgBin();
  const run = (tool: string, args: string[]) => {
    const [cmd, argv] = asOwner(join(bin, tool), args);
    execFileSync(cmd, [...argv], { stdio: "pipe" });
  };
  run("initdb", ["-D", data, "-U", "loraplex", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
  const conf = [
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    "unix_socket_directories = ''",
    "fsync = off",
    "synchronous_commit = off",
    "full_page_writes = off",
  ].join("\n");
  const [cmd, argv] = asOwner("sh", [
    "-c",
    `printf '%s\\n' "$0" >> "$1"`,
    conf,
    join(data, "postgresql.conf"),
  ]);
  execFileSync(cmd, [...argv]);
  const start = () => run("pg_ctl", ["-D", data, "-l", log, "-w", "-t", "60", "start"]);
  // Immediate: like a crash, connections are cut without a goodbye.
  const stop = () => run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
  start();
  return {
    url: `postgres://loraplex@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    destroy() {
      try {
        stop();
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type DedicatedRedis = { url: string; port: number; pid?: number; stop(): Promise<void> };

export async function startDedicatedRedis(): Promise<DedicatedRedis> {
  const port = await freePort();
  const child = spawn(
    "redis-server",
    ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync("redis-cli", ["-p", String(port), "ping"], { stdio: "pipe" });
      break;
    } catch {
      await new Promise((ok) => setTimeout(ok, 50));
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

export type DedicatedS3 = { url: string; stop(): Promise<void> };

/** The development S3 server (scripts/s3-server.ts) on its own port and folder, with one bucket. */
export async function startDedicatedS3(bucket: string): Promise<DedicatedS3> {
  const dir = mkdtempSync(join(tmpdir(), "loraplex-s3-"));
  const port = await freePort();
  const script = resolve(import.meta.dirname, "../../scripts/s3-server.ts");
  const args = [script, "--port", String(port), "--directory", dir, "--configure-bucket", bucket, "--silent"];
  const child = spawn(process.execPath, args, { stdio: "ignore" });
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if ((await fetch(url).catch(() => undefined))?.ok) break;
    if (i === 200 || child.exitCode !== null) throw new Error("the dedicated S3 server did not start");
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
