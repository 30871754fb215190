// Deleting Tenants on the real cluster erases them: for a dedicated tenant its namespace with its
// engine Pods; for both tiers the S3 prefix (adapters, files) and every Postgres row; for a
// shared tenant also its adapters cached on the shared engines (unloaded and gone from each
// agent's disk); the Tenant's Event lists what was erased, and its keys stop working. The test
// brings up two tenants of its own (initech shared, hooli dedicated), uses them so each has data
// everywhere, then deletes them; the sample tenants the other tests use are not touched.
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import OpenAI, { toFile } from "openai";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createS3Client } from "../../core/s3.ts";
import { tenantPrefix } from "../../core/storage-layout.ts";
import { parseTenant, type Tenant } from "../../core/tenant.ts";
import { uploadAdapters } from "../../scripts/demo-stack.ts";
import {
  agentAdapters,
  BASE,
  ENGINE_SELECTOR,
  env,
  kubectl,
  kubectlApply,
  kubectlResult,
  messages,
  readyPods,
  SYSTEM_NS,
  until,
} from "./cluster.ts";

const SHARED = "initech";
const DEDICATED = "hooli";
const ADAPTER = "helpdesk";
const cfg = loadServiceConfig();
const s3 = createS3Client(cfg);
const db = new pg.Pool({ connectionString: "postgres://loraplex:loraplex@127.0.0.1:25432/loraplex", max: 2 });
const keys: Record<string, string> = {};
const EXAMPLE = [
  { role: "user", content: "Reset my password, please." },
  { role: "assistant", content: "I have sent you a reset link." },
];

function manifest(name: string, dedicated: boolean): Tenant {
  const doc = {
    apiVersion: "loraplex.io/v1alpha1",
    kind: "Tenant",
    metadata: { name },
    spec: {
      tier: dedicated ? "dedicated" : "shared",
      ...(dedicated ? {} : { pool: "shared" }),
      models: [BASE],
      adapters: [
        {
          name: ADAPTER,
          baseModel: BASE,
          source: `s3://${cfg.S3_BUCKET}/${tenantPrefix(name)}adapters/${ADAPTER}/1/`,
          version: 1,
        },
      ],
      // A spend cap, so the tenant has budget counters in Redis for erasure to remove.
      limits: { requestsPerMinute: 600, maxConcurrent: 16, dailySpendUSD: 10 },
      audit: { mode: "hashes", retentionDays: 30 },
      ...(dedicated
        ? { dedicated: { replicas: 1, gpusPerReplica: 1, nodeSelector: { "gpu-pool": "globex" } } }
        : {}),
    },
  };
  const parsed = parseTenant(doc);
  if (!parsed.ok) throw new Error(`test tenant ${name}: ${parsed.error}`);
  return parsed.tenant;
}

const tenants = [manifest(SHARED, false), manifest(DEDICATED, true)];

function deleteTenants(wait: boolean): void {
  kubectl("delete", "tenant", SHARED, DEDICATED, "--ignore-not-found", `--wait=${wait}`, "--timeout=180s");
}

async function createKey(tenant: string): Promise<string> {
  const r = await fetch(`${env.routerUrl}/admin/v1/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ tenant, name: "e2e-erasure" }),
  });
  if (r.status !== 201) throw new Error(`creating a key for ${tenant}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { key: string }).key;
}

const tenantClient = (tenant: string) =>
  new OpenAI({ apiKey: keys[tenant], baseURL: `${env.routerUrl}/v1`, maxRetries: 0, timeout: 60_000 });

async function objectsUnder(tenant: string): Promise<number> {
  const page = await s3.send(
    new ListObjectsV2Command({ Bucket: cfg.S3_BUCKET, Prefix: tenantPrefix(tenant) }),
  );
  return page.KeyCount ?? 0;
}

/** Rows per table holding the tenant's data (every table of the schema with a tenant column). */
async function rowsOf(tenant: string): Promise<Record<string, number>> {
  const tables = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns
      WHERE table_schema = 'e2e' AND column_name = 'tenant' AND table_name <> 'tenant_erasures'`,
  );
  const counts: Record<string, number> = {};
  for (const { table_name } of tables.rows) {
    const r = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM e2e."${table_name}" WHERE tenant = $1`,
      [tenant],
    );
    const n = Number(r.rows[0]!.n);
    if (n > 0) counts[table_name] = n;
  }
  return counts;
}

/** The shared engines' agents' adapters of a tenant. */
const sharedAgentsHold = (tenant: string) =>
  readyPods(SYSTEM_NS, ENGINE_SELECTOR).flatMap((p) =>
    agentAdapters(SYSTEM_NS, p.metadata.name).filter((a) => a.tenant === tenant),
  );

beforeAll(async () => {
  deleteTenants(true); // an earlier run stopped halfway
  await uploadAdapters(tenants);
  for (const t of tenants) kubectlApply(t);
  // The dedicated pool's agent reads S3 credentials from the tenant's namespace, as in production.
  await until(`namespace tenant-${DEDICATED}`, 60, () =>
    kubectlResult(["get", "namespace", `tenant-${DEDICATED}`]).ok ? true : undefined,
  );
  kubectlApply({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "loraplex-s3", namespace: `tenant-${DEDICATED}` },
    stringData: { S3_ACCESS_KEY_ID: cfg.S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: cfg.S3_SECRET_ACCESS_KEY },
  });
  kubectl("wait", "--for=condition=Ready", "--timeout=180s", `tenant/${SHARED}`, `tenant/${DEDICATED}`);
  await until(`a Ready engine Pod of ${DEDICATED}`, 180, () =>
    readyPods(`tenant-${DEDICATED}`, ENGINE_SELECTOR).length === 1 ? true : undefined,
  );
  for (const t of [SHARED, DEDICATED]) keys[t] = await until(`a key for ${t}`, 60, () => createKey(t));
}, 300_000);

afterAll(async () => {
  deleteTenants(false);
  s3.destroy();
  await db.end();
});

describe("deleting Tenants erases their data everywhere", () => {
  it("removes the dedicated namespace, S3 prefixes, rows and shared agents' adapters, and says so", async () => {
    // Use both tenants: an adapter answer (loaded by an agent), a file, usage and audit rows.
    for (const t of [SHARED, DEDICATED]) {
      const c = tenantClient(t);
      // The first call may land while the router is still learning the new tenant's engines.
      const r = await until(`${t}'s adapter answering`, 60, () =>
        c.chat.completions.create({ model: ADAPTER, messages, max_tokens: 8 }),
      );
      expect(r.model).toBe(ADAPTER);
      await c.files.create({
        file: await toFile(Buffer.from(`${JSON.stringify({ messages: EXAMPLE })}\n`), "hi.jsonl"),
        purpose: "fine-tune",
      });
      await until(`${t}'s usage and audit rows`, 60, async () => {
        const rows = await rowsOf(t);
        return rows.usage_events && rows.audit_log && rows.files && rows.api_keys ? rows : undefined;
      });
      expect(await objectsUnder(t)).toBeGreaterThanOrEqual(3); // adapter config + weights, the file
    }
    expect(sharedAgentsHold(SHARED).map((a) => a.adapter)).toContain(ADAPTER);
    const uids = Object.fromEntries(
      [SHARED, DEDICATED].map((t) => [t, kubectl("get", "tenant", t, "-o", "jsonpath={.metadata.uid}")]),
    );

    deleteTenants(true);

    expect(kubectlResult(["get", "namespace", `tenant-${DEDICATED}`]).ok).toBe(false);
    const pods = kubectl("get", "pods", "-A", "-l", `loraplex.io/tenant=${DEDICATED}`, "-o", "name");
    expect(pods.trim()).toBe("");
    for (const t of [SHARED, DEDICATED]) {
      expect(await objectsUnder(t)).toBe(0);
      expect(await rowsOf(t)).toEqual({});
      const events = JSON.parse(
        kubectl(
          "-n",
          "default",
          "get",
          "events",
          "--field-selector",
          `involvedObject.uid=${uids[t]}`,
          "-o",
          "json",
        ),
      ) as { items: { reason: string; message: string }[] };
      const erased = events.items.filter((e) => e.reason === "Erased");
      expect(erased).toHaveLength(1);
      console.log(`Erased Event of ${t}: ${erased[0]!.message}`);
      expect(erased[0]!.message).toMatch(new RegExp(`erased tenant ${t}: [1-9]\\d* object\\(s\\)`));
      expect(erased[0]!.message).toMatch(/usageEvents=[1-9]/);
      expect(erased[0]!.message).toMatch(/auditRows=[1-9]/);
      expect(erased[0]!.message).toMatch(/redisKeys=[1-9]/);
      expect(erased[0]!.message).toContain(
        t === DEDICATED ? `namespace tenant-${DEDICATED} deleted` : "no dedicated namespace",
      );
      if (t === SHARED)
        expect(erased[0]!.message).toMatch(/[1-9]\d* adapter\(s\) purged from [1-9]\d* shared agent/);
      // Its key is gone with its rows: the router refuses it.
      const refused = await tenantClient(t)
        .chat.completions.create({ model: BASE, messages, max_tokens: 8 })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
    }
    // The shared engines no longer hold (or serve) the deleted shared tenant's adapter.
    expect(sharedAgentsHold(SHARED)).toEqual([]);
  }, 240_000);
});
