// Deleting a Tenant erases its data: S3 prefix, Postgres rows, dedicated namespace, with an
// Event saying what went; when erasure fails the Tenant stays (finalizer) and is Degraded until
// a retry succeeds.

import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tenantNamespace } from "../../core/cluster-layout.ts";
import { loadServiceConfig } from "../../core/config.ts";
import { createPgPool } from "../../core/db.ts";
import { migrate } from "../../core/migrate.ts";
import { createS3Client } from "../../core/s3.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import { type ControllerEnv, condition, isReady, setupControllerEnv } from "./harness.ts";
import { waitFor } from "./harness-cluster.ts";

const MODEL = "llama-3.1-8b-instruct";
const cfg = loadServiceConfig();
const s3 = createS3Client(cfg);
let env: ControllerEnv;
let db: pg.Pool;
const strayPrefixes: string[] = [];

beforeAll(async () => {
  env = await setupControllerEnv("ctl-erase");
  db = createPgPool(cfg, { max: 2, schema: env.dbSchema });
  await migrate(db, { schema: env.dbSchema });
  await env.startController();
});
afterAll(async () => {
  await env?.teardown();
  await db?.query(`DROP SCHEMA IF EXISTS "${env.dbSchema}" CASCADE`);
  await db?.end();
  for (const prefix of strayPrefixes) await deletePrefix(prefix);
  s3.destroy();
});

async function putObjects(prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await s3.send(
      new PutObjectCommand({ Bucket: cfg.S3_BUCKET, Key: `${prefix}obj-${i}`, Body: `data ${i}` }),
    );
  }
}

async function keysUnder(prefix: string): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: cfg.S3_BUCKET, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

async function deletePrefix(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix);
  if (keys.length === 0) return;
  await s3.send(
    new DeleteObjectsCommand({ Bucket: cfg.S3_BUCKET, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
  );
}

async function addApiKeys(tenant: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await db.query("INSERT INTO api_keys (id, tenant, prefix, hash) VALUES ($1, $2, $3, $4)", [
      `${tenant}-k${i}`,
      tenant,
      `${tenant}-p${i}`,
      Buffer.from("not-a-real-hash"),
    ]);
  }
}

async function eventsFor(name: string): Promise<(KubeObject & { reason?: string; message?: string })[]> {
  const list = await env.admin.list<KubeObject & { reason?: string; message?: string }>(R.events, {
    namespace: "default",
    fieldSelector: `involvedObject.name=${name},involvedObject.kind=Tenant`,
  });
  return list.items;
}

describe("tenant deletion", () => {
  it("erases the S3 prefix, the Postgres rows and the dedicated namespace, and records an Event", async () => {
    const name = env.tenantName("gone");
    const neighbour = env.tenantName("stays");
    strayPrefixes.push(`tenants/${neighbour}/`);
    await putObjects(`tenants/${name}/adapters/bot/1/`, 3);
    await putObjects(`tenants/${name}/files/`, 2);
    await putObjects(`tenants/${neighbour}/files/`, 2);
    await addApiKeys(name, 2);
    await addApiKeys(neighbour, 1);

    await env.createTenant(name, { tier: "dedicated", models: [MODEL], dedicated: { replicas: 1 } });
    await env.waitTenant(name, "Ready", isReady);
    expect(await env.admin.get(R.namespaces, tenantNamespace(name))).toBeDefined();

    await env.admin.delete(R.tenants, name);
    await waitFor("tenant gone", async () => (await env.getTenant(name)) === undefined, 90_000);

    expect(await keysUnder(`tenants/${name}/`)).toEqual([]);
    expect(await keysUnder(`tenants/${neighbour}/`)).toHaveLength(2);
    const rows = await db.query<{ tenant: string; n: string }>(
      "SELECT tenant, count(*) AS n FROM api_keys GROUP BY tenant ORDER BY tenant",
    );
    expect(rows.rows.find((r) => r.tenant === name)).toBeUndefined();
    expect(rows.rows.find((r) => r.tenant === neighbour)?.n).toBe("1");
    expect(await env.admin.get(R.namespaces, tenantNamespace(name))).toBeUndefined();

    // Erased once: the reconciles the namespace's deletion queued find the Tenant gone.
    const all = (await eventsFor(name)).filter((e) => e.reason === "Erased");
    expect(all).toHaveLength(1);
    const erased = all[0];
    expect(erased?.message).toContain(`5 object(s) under s3://${cfg.S3_BUCKET}/tenants/${name}/`);
    expect(erased?.message).toContain("apiKeys=2");
    expect(erased?.message).toContain(`namespace ${tenantNamespace(name)} deleted`);
  }, 180_000);

  it("keeps the Tenant Degraded while erasure fails, and finishes once the cause is gone", async () => {
    const name = env.tenantName("stuck");
    await putObjects(`tenants/${name}/files/`, 1);
    await addApiKeys(name, 1);
    // A real failure inside Postgres: a trigger refuses to delete this tenant's keys.
    const fn = `block_${name.replaceAll("-", "_")}`;
    await db.query(
      `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'erasure blocked by test'; END $$`,
    );
    await db.query(
      `CREATE TRIGGER ${fn} BEFORE DELETE ON api_keys FOR EACH ROW WHEN (OLD.tenant = '${name}') EXECUTE FUNCTION ${fn}()`,
    );
    await env.createTenant(name, { tier: "shared", models: [MODEL] });
    await env.waitTenant(name, "Ready", isReady);

    await env.admin.delete(R.tenants, name);
    const stuck = await waitFor("Degraded ErasureFailed", async () => {
      const t = await env.getTenant(name);
      return condition(t, "Degraded")?.reason === "ErasureFailed" ? t : undefined;
    });
    expect(condition(stuck, "Degraded")?.status).toBe("True");
    expect(condition(stuck, "Degraded")?.message).toContain("erasure blocked by test");
    expect(stuck.metadata.finalizers).toContain("loraplex.io/erasure");
    expect(stuck.metadata.deletionTimestamp).toBeDefined();
    expect((await eventsFor(name)).some((e) => e.reason === "ErasureFailed")).toBe(true);

    await db.query(`DROP TRIGGER ${fn} ON api_keys`);
    await db.query(`DROP FUNCTION ${fn}()`);
    await waitFor(
      "tenant erased after the retry",
      async () => (await env.getTenant(name)) === undefined,
      120_000,
    );
    expect(await keysUnder(`tenants/${name}/`)).toEqual([]);
    const left = await db.query("SELECT 1 FROM api_keys WHERE tenant = $1", [name]);
    expect(left.rowCount).toBe(0);
    expect((await eventsFor(name)).some((e) => e.reason === "Erased")).toBe(true);
  }, 180_000);
});
