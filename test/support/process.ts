// Runs Loraplex components as real child processes for integration tests.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
const CLI = resolve(ROOT, "bin/loraplex.js");

// Test ports come from 20000-29999: below Linux's ephemeral range (32768-60999), so an outgoing
// connection (thousands per run, to Postgres, Redis, S3 and the engines) can never take a port
// between this check and the server's listen, and below the NodePort range (30000-32767).
const TEST_PORTS = { from: 20_000, to: 30_000 };
const RESERVED = new Set([25432, 26379, 29000]); // the local services (scripts/services.sh)

function tryListen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => ok(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => ok(true)));
  });
}

/** A loopback port that is free now, picked at random so parallel test files rarely meet. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = TEST_PORTS.from + Math.floor(Math.random() * (TEST_PORTS.to - TEST_PORTS.from));
    if (!RESERVED.has(port) && (await tryListen(port))) return port;
  }
  throw new Error(`no free loopback port in ${TEST_PORTS.from}-${TEST_PORTS.to - 1}`);
}

export type Proc = {
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
};

/**
 * Starts `loraplex <args>` with the current Node and waits until `readyUrl` answers 2xx
 * (or rejects with the process output if it exits or `timeoutMs` passes).
 */
export async function startLoraplex(
  args: string[],
  opts: { readyUrl?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; name?: string } = {},
): Promise<Proc> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const keep = (b: Buffer) => {
    out += b.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const proc: Proc = {
    child,
    output: () => out,
    exited,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  if (opts.readyUrl) {
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    let dead = false;
    void exited.then(() => {
      dead = true;
    });
    for (;;) {
      if (dead) throw new Error(`${opts.name ?? args[0]} exited before it was ready:\n${out}`);
      try {
        const r = await fetch(opts.readyUrl);
        if (r.ok) break;
      } catch {}
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Error(`${opts.name ?? args[0]} was not ready at ${opts.readyUrl} in time:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return proc;
}

/** Runs a one-shot `loraplex <args>` to its end; a non-zero exit is returned, not thrown. */
export function runLoraplex(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}
