// Starting the stack a benchmark measures: `loraplex` subcommands as child processes (their
// output kept out of the figures, errors shown), a readiness wait, one stop for all of them,
// and the seeded random numbers that let two runs see the same request sequence.
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const children: ChildProcess[] = [];

/** Starts `loraplex <args>` (LOG_LEVEL warn unless `env` says otherwise). */
export function launch(args: string[], env: NodeJS.ProcessEnv = {}): void {
  const child = spawn(process.execPath, [resolve(ROOT, "bin/loraplex.js"), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
}

/** Polls `url` every 100 ms until it answers 2xx, for up to `timeoutMs`. */
export async function waitOk(url: string, timeoutMs = 90_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    if ((await fetch(url).catch(() => undefined))?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready`);
}

/** SIGTERM to every process launch() started. */
export function stopAll(): void {
  for (const c of children) c.kill("SIGTERM");
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
