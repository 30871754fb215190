// Benchmark (not a test): what the router's tenant-side steps cost per request.
//
//   node bench/router-core-hot-path.ts [--iterations 200000] [--lookups 2000]
//
// Real parts: keys are created in, and cold lookups read from, the local Postgres
// (scripts/services.sh up), in a schema of their own that is dropped at the end. Measured:
//   authenticate (cache hit)   Bearer parse + key cache + tenant store, the hot path
//   resolveModel               adapter name → ResolvedModel for the tenant
//   validate + policy (chat)   zod validation of a small chat body, system prompt, cap, salt
//   key lookup (Postgres)      a cache miss: one indexed SELECT + HMAC, what a key costs every 5 s
//   fair gate, not saturated   flow control's enter + release for a pool with room (2 replicas
//                              at a learned batch limit of 64): what every request pays for it
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { createKeyStore } from "../api-keys/api-keys.ts";
import { createAuthenticator } from "../router/auth/authenticate.ts";
import { createFlowControl, type FlowControl } from "../router/fairness/flow-control.ts";
import { createFairnessMetrics } from "../router/fairness/metrics.ts";
import { applyChatPolicy, createCacheSalter, validateChatBody } from "../router/policy.ts";
import { resolveModel } from "../router/resolve-model.ts";
import { newReplica } from "../router/scheduling/replica-state.ts";
import { createTenantStore } from "../tenants/tenant-store.ts";
import { testDb } from "../test/support/db.ts";
import { acmeLike, globexLike } from "../test/support/tenants.ts";

const { values: flags } = parseArgs({
  options: {
    iterations: { type: "string", default: "200000" },
    lookups: { type: "string", default: "2000" },
  },
});
const N = Number(flags.iterations);
const LOOKUPS = Number(flags.lookups);
const SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuv";

function report(name: string, samplesNs: number[]): void {
  samplesNs.sort((a, b) => a - b);
  const at = (q: number) => samplesNs[Math.min(samplesNs.length - 1, Math.floor(q * samplesNs.length))]!;
  const mean = samplesNs.reduce((a, b) => a + b, 0) / samplesNs.length;
  const fmt = (ns: number) => (ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${Math.round(ns)} ns`);
  console.log(
    `${name.padEnd(28)} n=${String(samplesNs.length).padEnd(7)} mean ${fmt(mean).padStart(9)}  p50 ${fmt(at(0.5)).padStart(9)}  p99 ${fmt(at(0.99)).padStart(9)}`,
  );
}

/** Per-call timings of `fn`, after a warm-up so the JIT has settled. */
async function measure(fn: () => unknown, n: number): Promise<number[]> {
  for (let i = 0; i < Math.min(n, 10_000); i++) {
    const r = fn();
    if (r instanceof Promise) await r;
  }
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const r = fn();
    // Synchronous steps are timed without a microtask turn, asynchronous ones until they settle.
    if (r instanceof Promise) await r;
    out[i] = Number(process.hrtime.bigint() - t);
  }
  return out;
}

const db = await testDb("bench_router_core");
try {
  const tenants = createTenantStore();
  tenants.replaceAll([acmeLike(), globexLike()], []);
  const keys = createKeyStore({ pool: db.pool, secret: SECRET });
  const { key } = await keys.createKey("acme", "bench");
  const auth = createAuthenticator({ keys, tenants });
  const header = `Bearer ${key}`;
  await auth.authenticate(header);
  const acme = tenants.get("acme")!;
  const known = tenants.baseModels();
  const salt = createCacheSalter(SECRET);

  console.log(`router-core hot path, node ${process.version}, ${N} iterations per step`);
  report("authenticate (cache hit)", await measure(() => auth.authenticate(header), N));
  report("resolveModel", await measure(() => resolveModel(acme, "support-bot@1", known), N));
  report(
    "validate + policy (chat)",
    await measure(() => {
      const body = validateChatBody({
        model: "support-bot",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Where is my order #12345? It was due yesterday." },
        ],
        max_tokens: 256,
        temperature: 0.7,
        stream: true,
        stream_options: { include_usage: true },
      });
      return applyChatPolicy(acme, body, salt("acme"));
    }, N),
  );
  const replicas = [1, 2].map((i) => {
    const r = newReplica("loraplex-system/shared", `http://10.0.0.${i}:8000`, `http://10.0.0.${i}:8001`, 64);
    r.healthy = true;
    return r;
  });
  const holder: { flow?: FlowControl } = {};
  const flow = createFlowControl({
    replicas: () => replicas,
    metrics: createFairnessMetrics(new Registry(), () => holder.flow?.pools() ?? []),
  });
  holder.flow = flow;
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  const ctx = {
    requestId: "r",
    receivedAt: 0,
    endpoint: "chat.completions" as const,
    tenant: acme,
    keyId: "k",
    model: { requested: "m", baseModel: "m" },
    stream: true,
    promptTokensEstimate: 40,
    maxOutputTokens: 256,
    stage: "admitted" as const,
  };
  const outcome = {
    status: "ok" as const,
    httpStatus: 200,
    promptTokens: 38,
    completionTokens: 64,
    durationMs: 1,
  };
  report(
    "fair gate, not saturated",
    await measure(() => {
      const lane = flow.enter("loraplex-system/shared", ctx, res);
      if (lane instanceof Promise) throw new Error("queued below saturation");
      flow.release(lane, ctx, outcome, 60);
    }, N),
  );
  flow.close();
  report("key lookup (Postgres)", await measure(() => keys.lookup(key), LOOKUPS));
  await auth.close();
} finally {
  await db.cleanup();
}
