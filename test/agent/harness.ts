// Real processes for the adapter agent's tests: the engine simulator (`loraplex engine-sim`),
// the agent (`loraplex agent`), and adapters put into the real S3 server under a test's tenant.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type AgentClient, createAgentClient } from "../../agent-api/client.ts";
import { loadServiceConfig } from "../../core/config.ts";
import { CONFIG_FILE, type GenerateOptions, generateAdapter, WEIGHTS_FILE } from "../../core/peft.ts";
import { createS3Client } from "../../core/s3.ts";
import { adapterPrefix } from "../../core/storage-layout.ts";
import { freePort, type Proc, startLoraplex } from "../support/process.ts";
import { type EngineSim, startEngineSim } from "../support/stack.ts";

export const BASE_MODEL = "sim-llama-3.1-8b-instruct";
const env = loadServiceConfig();
export const bucket = env.S3_BUCKET;

export type Sim = EngineSim;
export type Agent = { proc: Proc; url: string; client: AgentClient; cacheDir: string; stop(): Promise<void> };

/** The engine simulator with every latency at zero, so tests spend no time waiting on it. */
export function startSim(opts: { port?: number; args?: string[] } = {}): Promise<Sim> {
  return startEngineSim(["--model", BASE_MODEL, "--time-scale", "0", ...(opts.args ?? [])], opts.port);
}

export async function startAgent(opts: {
  engineUrl: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  cacheDir?: string;
  waitHealthy?: boolean;
}): Promise<Agent> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const cacheDir = opts.cacheDir ?? (await mkdtemp(join(tmpdir(), "agent-cache-")));
  const start = startLoraplex(
    [
      "agent",
      "--port",
      String(port),
      "--engine-url",
      opts.engineUrl,
      "--cache-dir",
      cacheDir,
      "--reconcile-interval-ms",
      "200",
      ...(opts.args ?? []),
    ],
    // /metrics answers as soon as the agent listens; /health also needs the engine up.
    {
      readyUrl: `${url}${opts.waitHealthy === false ? "/metrics" : "/health"}`,
      name: "agent",
      env: opts.env,
    },
  );
  const proc = await start.catch(async (err: unknown) => {
    if (!opts.cacheDir) await rm(cacheDir, { recursive: true, force: true });
    throw err;
  });
  const client = createAgentClient(url);
  return {
    proc,
    url,
    client,
    cacheDir,
    async stop() {
      await client.close();
      await proc.stop();
    },
  };
}

/** Stops what a test file started (any part may be missing if its setup failed) and removes the cache. */
export async function stopAll(parts: { agent?: Agent; sim?: Sim; s3c?: S3Client }): Promise<void> {
  await parts.agent?.stop();
  await parts.sim?.proc.stop();
  parts.s3c?.destroy();
  if (parts.agent) await removeDir(parts.agent.cacheDir);
}

export function s3(): S3Client {
  return createS3Client(env);
}

/** Generates a valid adapter and puts it at tenants/<tenant>/adapters/<name>/<version>/. */
export async function putAdapter(
  client: S3Client,
  tenant: string,
  name: string,
  version: number,
  gen: Partial<GenerateOptions> = {},
): Promise<{ source: string; sha256: string; bytes: number; prefix: string }> {
  const { config, weights } = generateAdapter({
    baseModel: BASE_MODEL,
    seed: `${tenant}/${name}/${version}`,
    ...gen,
  });
  const prefix = adapterPrefix(tenant, name, version);
  await putObject(client, prefix + CONFIG_FILE, JSON.stringify(config));
  await putObject(client, prefix + WEIGHTS_FILE, weights);
  return {
    source: `s3://${bucket}/${prefix}`,
    sha256: createHash("sha256").update(weights).digest("hex"),
    bytes: weights.length + Buffer.byteLength(JSON.stringify(config)),
    prefix,
  };
}

export async function putObject(client: S3Client, key: string, body: string | Buffer): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** Adapter names the engine has registered right now (its /v1/models cards with a parent). */
export async function engineAdapters(engineUrl: string): Promise<string[]> {
  const r = await fetch(`${engineUrl}/v1/models`);
  const body = (await r.json()) as { data: { id: string; parent?: string | null }[] };
  return body.data.filter((m) => m.parent).map((m) => m.id);
}

/** Sum of a Prometheus metric's samples whose labels include `labels`. */
export async function metricValue(
  url: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{\s]+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** What lies in the agent's cache folder: complete entries and leftovers of temp downloads. */
export async function cacheContents(cacheDir: string): Promise<{ entries: string[]; temp: string[] }> {
  const entries = (await readdir(cacheDir)).filter((n) => n !== ".tmp").sort();
  const temp = await readdir(join(cacheDir, ".tmp")).catch(() => []);
  return { entries, temp };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Polls `check` until it returns true (or fails after `timeoutMs`, which is generous on purpose). */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
