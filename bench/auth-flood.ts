// Valid-request latency while a flood of made-up API keys hits the same router (issue 13,
// item 7): median and p99 of a tenant's chat completions, quiet and during 5,000 distinct bogus
// keys from the same address, in one run (only the ratio means anything on a shared machine).
// The bogus keys stop costing a Postgres lookup each: unknown prefixes are remembered and the
// failed-authentication limit per address refuses further lookups (valid keys stay cached).
//
//   node bench/auth-flood.ts [--requests 400] [--bogus 5000] [--flood-concurrency 8] [--help]
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { freePort } from "../test/support/process.ts";
import { makeTarget, once, type Sample, summarize } from "./load-gen.ts";
import { launch, stopAll, waitOk } from "./processes.ts";

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string", default: "400" },
    bogus: { type: "string", default: "5000" },
    "flood-concurrency": { type: "string", default: "8" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(`Valid-request latency, quiet and during a flood of distinct bogus API keys (one router).

  node bench/auth-flood.ts [options]
    --requests N           sequential valid chat completions per phase (default 400)
    --bogus N              distinct made-up keys sent during the second phase (default 5000)
    --flood-concurrency N  bogus requests in flight at once (default 8)

Starts the local services (scripts/services.sh up), an engine simulator, an agent and a router.`);
  process.exit(0);
}
const REQUESTS = Number(flags.requests);
const BOGUS = Number(flags.bogus);
const FLOOD_CONCURRENCY = Number(flags["flood-concurrency"]);
const ROOT = resolve(import.meta.dirname, "..");
const MODEL = "bench-llama-8b";
const TENANT = `bench-auth-${process.pid}`;
const ADMIN = `bench-admin-token-${"x".repeat(24)}`;

const dir = await mkdtemp(join(tmpdir(), "bench-auth-"));
try {
  execFileSync("bash", ["scripts/services.sh", "up"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  await writeFile(
    join(dir, "tenant.yaml"),
    `apiVersion: loraplex.io/v1alpha1\nkind: Tenant\nmetadata: {name: ${TENANT}}\nspec:\n  models: [${MODEL}]\n`,
  );
  const [simPort, agentPort, routerPort] = [await freePort(), await freePort(), await freePort()];
  const sim = `http://127.0.0.1:${simPort}`;
  const agent = `http://127.0.0.1:${agentPort}`;
  const router = `http://127.0.0.1:${routerPort}`;
  launch(["engine-sim", "--port", String(simPort), "--model", MODEL, "--time-scale", "0"]);
  await waitOk(`${sim}/health`);
  launch(["agent", "--port", String(agentPort), "--engine-url", sim, "--cache-dir", join(dir, "cache")]);
  await waitOk(`${agent}/health`);
  const routerArgs = ["router", "--port", String(routerPort), "--metrics-port", "0", "--tenants-dir", dir];
  routerArgs.push("--engines", `loraplex-system/shared=${sim}|${agent}`);
  launch(routerArgs, {
    LORAPLEX_DEV_SECRETS: "1",
    LORAPLEX_ADMIN_TOKEN: ADMIN,
    DATABASE_SCHEMA: "loraplex_bench",
  });
  await waitOk(`${router}/readyz`);
  const keyRes = await fetch(`${router}/admin/v1/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ tenant: TENANT }),
  });
  const { key } = (await keyRes.json()) as { key: string };
  const valid = makeTarget(
    "valid",
    router,
    "/v1/chat/completions",
    { authorization: `Bearer ${key}` },
    { model: MODEL, max_tokens: 1, messages: [{ role: "user", content: "ping" }] },
  );
  const series = async (): Promise<Sample[]> => {
    const out: Sample[] = [];
    for (let i = 0; i < REQUESTS; i++) out.push(await once(valid));
    return out;
  };

  // Warm-up: connections, the key cache, JIT.
  for (let i = 0; i < 50; i++) await once(valid);
  const quiet = summarize(await series());

  const bogusPool = new Pool(router, { connections: FLOOD_CONCURRENCY });
  let sent = 0;
  const statuses = new Map<number, number>();
  const flooder = async () => {
    while (sent < BOGUS) {
      sent++;
      // A distinct made-up prefix per key: no cache keyed by the whole key can help.
      const bogus = `lpx-${randomBytes(6).toString("base64url").replace(/[-_]/g, "a").slice(0, 8)}-${randomBytes(32).toString("base64url")}`;
      const r = await bogusPool.request({
        method: "POST",
        path: "/v1/chat/completions",
        headers: { authorization: `Bearer ${bogus}`, "content-type": "application/json" },
        body: "{}",
      });
      await r.body.dump();
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    }
  };
  const floodStart = performance.now();
  const flood = Promise.all(Array.from({ length: FLOOD_CONCURRENCY }, flooder));
  const during = summarize(await series());
  await flood;
  const floodSeconds = (performance.now() - floodStart) / 1000;
  await bogusPool.close();

  console.log(
    `auth flood benchmark: ${REQUESTS} sequential valid chat completions, ${BOGUS} distinct bogus keys ` +
      `(${FLOOD_CONCURRENCY} in flight), ${cpus().length} CPUs, load avg ${loadavg()[0]!.toFixed(1)}`,
  );
  const row = (name: string, s: ReturnType<typeof summarize>) =>
    console.log(
      `  ${name.padEnd(14)} p50 ${s.p50.toFixed(2)} ms   p99 ${s.p99.toFixed(2)} ms   ok ${s.ok} err ${s.err}`,
    );
  row("quiet", quiet);
  row("during flood", during);
  console.log(
    `  bogus answers: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(", ")} in ${floodSeconds.toFixed(1)} s`,
  );
  console.log(`  p50 during / quiet: ${(during.p50 / quiet.p50).toFixed(2)} (target ≤ 1.20)`);
  console.log("  reproduce: node bench/auth-flood.ts");
} finally {
  stopAll();
  await rm(dir, { recursive: true, force: true });
}
