// A whole local data path for router tests: engine simulators with their adapter agents (real
// processes), three tenants written as Tenant YAML (shared-tier "acme-…" with support-bot v1+v2,
// dedicated "globex-…" with support-bot v3, and shared-tier "initech-…" with base models only,
// so two tenants share engines), their adapters generated and uploaded to the
// real S3 server, and the router, either as a real `loraplex router` process or in-process
// through createRouter() when a test needs to inject its own Hooks. Names are unique per suite,
// as are the Postgres schema and the S3 prefixes, so suites run in parallel.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { DEDICATED_POOL, formatPoolRef, tenantNamespace } from "../../core/cluster-layout.ts";
import { loadServiceConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import type { Hooks } from "../../core/request-context.ts";
import { createS3Client } from "../../core/s3.ts";
import type { RouterOptions, RunningRouter } from "../../router/create-router.ts";
import {
  type FleetReplica,
  MODEL,
  startReplica,
  startRouterProcess,
  uploadAdapter,
} from "../support/stack.ts";
import { uniqueName } from "../support/unique.ts";

export { MODEL, scrapeCounter, until } from "../support/stack.ts";

const SHARED_POOL = "loraplex-system/shared";
const ADMIN_TOKEN = "test-admin-token-0123456789abcdefghijklmnop";

export type StackOptions = {
  sharedReplicas?: number;
  dedicatedReplicas?: number;
  /** Extra engine-sim flags for every replica (e.g. latency or fault knobs). */
  engineArgs?: string[];
  /** Engine-sim flags for the dedicated pool's replicas only (default: engineArgs). */
  dedicatedEngineArgs?: string[];
  timeScale?: number;
  routerArgs?: string[];
  /** Run the router in this process with these hooks instead of as a child process. */
  hooks?: Hooks;
  upstreamTimeoutMs?: number;
  maxBodyBytes?: number;
  /** Further createRouter() options for an in-process router (with `hooks`). */
  routerOptions?: Partial<RouterOptions>;
  /** YAML appended to both shared-tier tenants' spec (two-space indented keys). */
  sharedSpec?: string;
};

export type Stack = {
  url: string;
  /** The router's metrics listener (GET /metrics), apart from the API port. */
  metricsUrl: string;
  acme: string;
  globex: string;
  initech: string;
  keys: Record<string, string>;
  shared: FleetReplica[];
  dedicated: FleetReplica[];
  client(tenant: string, opts?: { maxRetries?: number }): OpenAI;
  /** Raw HTTP to the router with a tenant's key. */
  post(
    tenant: string | undefined,
    path: string,
    body: string | object,
    headers?: Record<string, string>,
  ): Promise<Response>;
  routerLog(): string;
  /** The router's process id when it runs as a child process (to read its memory). */
  routerPid?: number;
  /** The router's Postgres schema and Tenant YAML directory (for a trainer beside it). */
  schema: string;
  tenantsDir: string;
  stop(): Promise<void>;
};

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const cfg = loadServiceConfig();
  const acme = uniqueName("acme");
  const globex = uniqueName("globex");
  const initech = uniqueName("initech");
  const schema = uniqueName("router_t").replaceAll("-", "_");
  const s3 = createS3Client(cfg);
  const cleanup: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), "loraplex-router-tenants-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const src = (t: string, v: number) => `s3://${cfg.S3_BUCKET}/tenants/${t}/adapters/support-bot/${v}/`;
    await writeFile(
      join(dir, "tenants.yaml"),
      tenantsYaml(acme, globex, initech, src, opts.sharedSpec ?? ""),
    );
    await Promise.all([
      uploadAdapter(s3, cfg.S3_BUCKET, acme, "support-bot", 1),
      uploadAdapter(s3, cfg.S3_BUCKET, acme, "support-bot", 2),
      uploadAdapter(s3, cfg.S3_BUCKET, globex, "support-bot", 3),
    ]);
    const replicaOpts = { timeScale: opts.timeScale ?? 0, engineArgs: opts.engineArgs };
    const shared = await Promise.all(
      Array.from({ length: opts.sharedReplicas ?? 2 }, () => startReplica(replicaOpts)),
    );
    for (const r of shared) cleanup.push(() => r.stop());
    const dedicatedOpts = { ...replicaOpts, engineArgs: opts.dedicatedEngineArgs ?? opts.engineArgs };
    const dedicated = await Promise.all(
      Array.from({ length: opts.dedicatedReplicas ?? 1 }, () => startReplica(dedicatedOpts)),
    );
    for (const r of dedicated) cleanup.push(() => r.stop());
    const engines = [
      `${SHARED_POOL}=${shared.map((r) => r.flag).join(",")}`,
      dedicated.length
        ? `${formatPoolRef({ namespace: tenantNamespace(globex), name: DEDICATED_POOL })}=${dedicated.map((r) => r.flag).join(",")}`
        : "",
    ]
      .filter(Boolean)
      .join(";");
    const env = { LORAPLEX_DEV_SECRETS: "1", LORAPLEX_ADMIN_TOKEN: ADMIN_TOKEN };

    let url: string;
    let metricsUrl: string;
    let log = () => "";
    let routerPid: number | undefined;
    if (opts.hooks) {
      // Imported only for an in-process router: the router's module graph adds ~2 s to the import
      // of every test file that loads this harness, and most run the router as a process.
      const { createRouter } = await import("../../router/create-router.ts");
      const router: RunningRouter = await createRouter({
        port: 0,
        tenantsDir: dir,
        engines,
        dbSchema: schema,
        healthIntervalMs: 200,
        metricsPort: 0,
        hooks: opts.hooks,
        upstreamTimeoutMs: opts.upstreamTimeoutMs,
        maxBodyBytes: opts.maxBodyBytes,
        env: { ...process.env, ...env },
        logger: createLogger("router", "warn"),
        ...opts.routerOptions,
      });
      cleanup.push(() => router.close(2_000));
      url = router.url;
      metricsUrl = router.metricsUrl;
      await waitReady(url);
    } else {
      const upstream = opts.upstreamTimeoutMs
        ? ["--upstream-timeout-ms", String(opts.upstreamTimeoutMs)]
        : [];
      const body = opts.maxBodyBytes ? ["--max-body-bytes", String(opts.maxBodyBytes)] : [];
      const router = await startRouterProcess({
        tenantsDir: dir,
        engines,
        dbSchema: schema,
        args: [...upstream, ...body, ...(opts.routerArgs ?? [])],
        env: { ...env, LOG_LEVEL: "info" },
      });
      const proc = router.proc;
      url = router.url;
      metricsUrl = router.metricsUrl;
      cleanup.push(() => proc.stop());
      log = proc.output;
      routerPid = proc.child.pid;
    }

    const keys: Record<string, string> = {};
    for (const tenant of [acme, globex, initech]) {
      const r = await fetch(`${url}/admin/v1/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ tenant, name: "test" }),
      });
      if (r.status !== 201) throw new Error(`creating a key for ${tenant}: ${r.status} ${await r.text()}`);
      keys[tenant] = ((await r.json()) as { key: string }).key;
    }
    return {
      url,
      metricsUrl,
      schema,
      tenantsDir: dir,
      acme,
      globex,
      initech,
      keys,
      shared,
      dedicated,
      client: (tenant, o = {}) =>
        new OpenAI({
          apiKey: keys[tenant],
          baseURL: `${url}/v1`,
          maxRetries: o.maxRetries ?? 0,
          timeout: 30_000,
        }),
      post: (tenant, path, body, headers = {}) =>
        fetch(`${url}${path}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(tenant ? { authorization: `Bearer ${keys[tenant]}` } : {}),
            ...headers,
          },
          body: typeof body === "string" ? body : JSON.stringify(body),
        }),
      routerLog: log,
      routerPid,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await fetch(`${url}/readyz`).catch(() => undefined))?.ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`router at ${url} did not become ready`);
}

function tenantsYaml(
  acme: string,
  globex: string,
  initech: string,
  src: (t: string, v: number) => string,
  sharedSpec: string,
): string {
  return `apiVersion: loraplex.io/v1alpha1
kind: Tenant
metadata: {name: ${acme}}
spec:
  tier: shared
  models: [${MODEL}]
  adapters:
    - {name: support-bot, baseModel: ${MODEL}, version: 1, source: "${src(acme, 1)}"}
    - {name: support-bot, baseModel: ${MODEL}, version: 2, source: "${src(acme, 2)}"}
  policy: {systemPrompt: "You are Acme's assistant.", allowClientSystemPrompt: true, maxOutputTokens: 64}
${sharedSpec}
---
apiVersion: loraplex.io/v1alpha1
kind: Tenant
metadata: {name: ${globex}}
spec:
  tier: dedicated
  models: [${MODEL}]
  adapters:
    - {name: support-bot, baseModel: ${MODEL}, version: 3, source: "${src(globex, 3)}"}
  policy: {systemPrompt: "You are Globex's assistant.", allowClientSystemPrompt: false, maxOutputTokens: 64}
  dedicated: {replicas: 1}
---
apiVersion: loraplex.io/v1alpha1
kind: Tenant
metadata: {name: ${initech}}
spec:
  tier: shared
  models: [${MODEL}]
  # acme's system prompt on purpose: only the cache_salt tells their identical prompts apart.
  policy: {systemPrompt: "You are Acme's assistant."}
${sharedSpec}
`;
}
