// The engine simulator's test harness: start it as a real process (through test/support/stack.ts),
// make adapters, read its Prometheus metrics.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeAdapter } from "../../core/peft.ts";
import { type EngineSim, startEngineSim } from "../support/stack.ts";

export const MODEL = "sim-base-7b";

export type Sim = EngineSim;

export function startSim(args: string[] = [], port?: number): Promise<Sim> {
  return startEngineSim(["--model", MODEL, ...args], port);
}

/** A temp dir holding valid adapters for MODEL, one per seed, named like the seeds. */
export async function adapterDir(
  ...seeds: string[]
): Promise<{ root: string; path(seed: string): string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), "engine-sim-test-"));
  for (const seed of seeds) await writeAdapter(join(root, seed), { baseModel: MODEL, seed });
  return {
    root,
    path: (seed) => join(root, seed),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

export function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export async function loadLora(
  sim: Sim,
  name: string,
  path: string,
  extra: Record<string, unknown> = {},
): Promise<Response> {
  return post(`${sim.url}/v1/load_lora_adapter`, { lora_name: name, lora_path: path, ...extra });
}

export type Series = { labels: Record<string, string>; value: number };

/** Every sample of one metric in Prometheus text format. */
export async function scrape(sim: Sim, name: string): Promise<Series[]> {
  const text = await (await fetch(`${sim.url}/metrics`)).text();
  const out: Series[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the sample whose labels include `match` (0 when there is none). */
export async function metric(sim: Sim, name: string, match: Record<string, string> = {}): Promise<number> {
  const s = (await scrape(sim, name)).find((x) => Object.entries(match).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

/** Polls until `check` holds; fails with `what` after `timeoutMs`. Never asserts timing. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Parses an SSE body into its JSON events (and whether it ended with [DONE]). */
export function sseEvents(body: string): { events: Record<string, unknown>[]; done: boolean } {
  const events: Record<string, unknown>[] = [];
  let done = false;
  for (const block of body.split("\n\n")) {
    const line = block.trim();
    if (!line.startsWith("data: ")) continue;
    const data = line.slice(6);
    if (data === "[DONE]") done = true;
    else events.push(JSON.parse(data) as Record<string, unknown>);
  }
  return { events, done };
}
