// Benchmark (not a test): how long the adapter agent takes to make a 16 MiB adapter usable.
//
//   node bench/adapter-load.ts [--iterations 20] [--size 16MiB]
//
// Real parts, all on loopback: the local S3 server (s3rver, started by scripts/services.sh),
// a `loraplex engine-sim` process (the GPU simulator, latencies off) and a `loraplex agent`
// process, driven through agent-api/client.ts as the router drives it. Per iteration a fresh adapter
// (new version, new weights) is uploaded, then measured three ways:
//   cold       not on the agent's disk: S3 download + verify + engine load call
//   disk hit   on disk, dropped by the engine: verify nothing, one engine load call
//   warm       already registered in the engine: one /v1/models check, no load call
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { createAgentClient } from "../agent-api/client.ts";
import { parseByteSize } from "../core/byte-size.ts";
import { loadServiceConfig } from "../core/config.ts";
import { CONFIG_FILE, generateAdapter, WEIGHTS_FILE } from "../core/peft.ts";
import { createS3Client } from "../core/s3.ts";
import { adapterPrefix, tenantPrefix } from "../core/storage-layout.ts";
import { freePort, startLoraplex } from "../test/support/process.ts";
import { uniqueName } from "../test/support/unique.ts";

const { values: flags } = parseArgs({
  options: { iterations: { type: "string", default: "20" }, size: { type: "string", default: "16MiB" } },
});
const ITERATIONS = Number(flags.iterations);
const SIZE = parseByteSize(flags.size);
const MODEL = "bench-llama-3.1-8b-instruct";

execFileSync("bash", ["scripts/services.sh", "up"], { stdio: ["ignore", "ignore", "inherit"] });
const env = loadServiceConfig();
const s3 = createS3Client(env);
const tenant = uniqueName("bench-agent");
const cacheDir = await mkdtemp(join(tmpdir(), "bench-agent-"));
const [enginePort, agentPort] = [await freePort(), await freePort()];
const engineUrl = `http://127.0.0.1:${enginePort}`;
const agentUrl = `http://127.0.0.1:${agentPort}`;

const sim = await startLoraplex(
  ["engine-sim", "--port", String(enginePort), "--model", MODEL, "--time-scale", "0"],
  { readyUrl: `${engineUrl}/health`, name: "engine-sim" },
);
const agent = await startLoraplex(
  [
    "agent",
    "--port",
    String(agentPort),
    "--engine-url",
    engineUrl,
    "--cache-dir",
    cacheDir,
    "--base-model",
    MODEL,
    // The periodic reconcile would re-register the adapter the disk-hit step drops on purpose.
    "--reconcile-interval-ms",
    "3600000",
  ],
  { readyUrl: `${agentUrl}/health`, name: "agent" },
);
const client = createAgentClient(agentUrl);

const samples = {
  cold: [] as number[],
  download: [] as number[],
  engineLoad: [] as number[],
  disk: [] as number[],
  warm: [] as number[],
};
try {
  for (let v = 1; v <= ITERATIONS; v++) {
    const { config, weights } = generateAdapter({ baseModel: MODEL, sizeBytes: SIZE, seed: `bench-${v}` });
    const prefix = adapterPrefix(tenant, "bench", v);
    await s3.send(
      new PutObjectCommand({
        Bucket: env.S3_BUCKET,
        Key: prefix + CONFIG_FILE,
        Body: JSON.stringify(config),
      }),
    );
    await s3.send(new PutObjectCommand({ Bucket: env.S3_BUCKET, Key: prefix + WEIGHTS_FILE, Body: weights }));
    const req = { tenant, adapter: "bench", version: v, source: `s3://${env.S3_BUCKET}/${prefix}` };

    let t = performance.now();
    const cold = await client.load(req);
    samples.cold.push(performance.now() - t);
    samples.download.push(cold.download_ms);
    samples.engineLoad.push(cold.load_ms);
    if (cold.cached || cold.already_loaded) throw new Error("the cold load was not cold");

    t = performance.now();
    const warm = await client.load(req);
    samples.warm.push(performance.now() - t);
    if (!warm.already_loaded) throw new Error("the warm load was not warm");

    await fetch(`${engineUrl}/v1/unload_lora_adapter`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lora_name: cold.lora_name }),
    });
    t = performance.now();
    const disk = await client.load(req);
    samples.disk.push(performance.now() - t);
    if (!disk.cached || disk.already_loaded) throw new Error("the disk hit was not a disk hit");
  }
} finally {
  await client.close();
  await agent.stop();
  await sim.stop();
  await rm(cacheDir, { recursive: true, force: true });
  await deletePrefix(tenantPrefix(tenant));
  s3.destroy();
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const row = (label: string, xs: number[]) =>
  `| ${label.padEnd(46)} | ${pct(xs, 50).toFixed(1).padStart(8)} | ${pct(xs, 95).toFixed(1).padStart(8)} |`;
console.log(
  `\nadapter agent load, ${flags.size} adapter, ${ITERATIONS} iterations — ${cpus().length} CPUs (${cpus()[0]?.model}), Node ${process.version}\n`,
);
console.log(
  `| ${"path (client-observed unless noted)".padEnd(46)} | ${"p50 ms".padStart(8)} | ${"p95 ms".padStart(8)} |`,
);
console.log(`| ${"-".repeat(46)} | ${"-".repeat(8)} | ${"-".repeat(8)} |`);
console.log(row("cold: S3 download + verify + engine load", samples.cold));
console.log(row("  of which download (agent's download_ms)", samples.download));
console.log(row("  of which engine load call (agent's load_ms)", samples.engineLoad));
console.log(row("disk hit: engine load from the disk cache", samples.disk));
console.log(row("warm: already loaded (one /v1/models check)", samples.warm));
console.log(`\nreproduce: node bench/adapter-load.ts --iterations ${ITERATIONS} --size ${flags.size}`);

async function deletePrefix(prefix: string): Promise<void> {
  for (;;) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: env.S3_BUCKET, Prefix: prefix }));
    const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) return;
    await s3.send(new DeleteObjectsCommand({ Bucket: env.S3_BUCKET, Delete: { Objects: keys } }));
  }
}
