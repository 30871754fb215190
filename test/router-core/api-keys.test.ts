// API keys against real Postgres and Redis: hashed storage, resolution to exactly one tenant,
// revocation seen by another router's authenticator through pub/sub, and the 401 answers.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createKeyStore, type KeyStore } from "../../api-keys/api-keys.ts";
import { loadServiceConfig } from "../../core/config.ts";
import { ApiError } from "../../core/errors.ts";
import { createRedis } from "../../core/redis.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import { loraName } from "../../core/storage-layout.ts";
import { listModels } from "../../router/api/models.ts";
import { type Authenticator, createAuthenticator } from "../../router/auth/authenticate.ts";
import { resolveModel } from "../../router/resolve-model.ts";
import { loadTenantDir } from "../../tenants/dir-source.ts";
import { createTenantStore, type MutableTenantStore } from "../../tenants/tenant-store.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { acmeLike, globexLike } from "../support/tenants.ts";

const SECRET = "router-core-test-secret-0123456789abcdef";
const HOUR = 3_600_000;

function rejectionSync(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("expected an ApiError");
}

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("expected an ApiError");
}

describe("API keys (real Postgres + Redis)", () => {
  let db: TestDb;
  let redis: Redis;
  let keys: KeyStore;
  let tenants: MutableTenantStore;
  let channel: string;
  const authenticators: Authenticator[] = [];
  // Two routers: TTLs of an hour, so only a pub/sub message can explain a prompt revocation.
  const router = async () => {
    const auth = createAuthenticator({
      keys,
      tenants,
      redis,
      channel,
      positiveTtlMs: HOUR,
      negativeTtlMs: HOUR,
    });
    authenticators.push(auth);
    await auth.ready;
    return auth;
  };

  beforeAll(async () => {
    db = await testDb("rc_keys");
    channel = createKeySpace({ schema: db.schema }).keyRevocations();
    redis = createRedis(loadServiceConfig());
    keys = createKeyStore({ pool: db.pool, secret: SECRET, redis, channel });
    tenants = createTenantStore();
    tenants.replaceAll([acmeLike(), globexLike()], []);
  });
  afterAll(async () => {
    for (const a of authenticators) await a.close();
    await redis.quit();
    await db.cleanup();
  });

  it("returns the key once, stores only its HMAC, and lists without secrets", async () => {
    const created = await keys.createKey("acme", "ci");
    expect(created.key).toMatch(/^lpx-[0-9A-Za-z]{8}-[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({ tenant: "acme", name: "ci", id: expect.stringMatching(/^key_/) });
    const { rows } = await db.pool.query("SELECT * FROM api_keys WHERE id = $1", [created.id]);
    const row = rows[0];
    expect(row.hash).toHaveLength(32);
    const dump = JSON.stringify(rows) + row.hash.toString("latin1") + row.hash.toString("hex");
    const secretPart = created.key.split("-").slice(2).join("-");
    expect(dump).not.toContain(secretPart);
    expect(dump).not.toContain(created.key);
    const listed = (await keys.listKeys("acme")).find((k) => k.id === created.id)!;
    expect(Object.keys(listed).sort()).toEqual(
      ["created_at", "id", "last_used_at", "name", "prefix", "revoked_at", "tenant"].sort(),
    );
    expect(JSON.stringify(await keys.listKeys())).not.toContain(secretPart);
  });

  it("resolves a key to its own tenant only", async () => {
    const acmeKey = await keys.createKey("acme");
    const globexKey = await keys.createKey("globex");
    const auth = await router();
    const a = await auth.authenticate(`Bearer ${acmeKey.key}`);
    expect(a.tenant.metadata.name).toBe("acme");
    expect(a.keyId).toBe(acmeKey.id);
    expect((await auth.authenticate(`bearer ${globexKey.key}`)).tenant.metadata.name).toBe("globex");
    expect(await keys.listKeys("globex")).not.toContainEqual(expect.objectContaining({ id: acmeKey.id }));
  });

  it("keeps acme inside acme from key to model: globex's adapters answer like names that do not exist", async () => {
    const samples = createTenantStore();
    const { tenants: sampleTenants } = await loadTenantDir("manifests/samples");
    samples.replaceAll(sampleTenants, []);
    const auth = createAuthenticator({ keys, tenants: samples, channel });
    authenticators.push(auth);
    const acmeKey = await keys.createKey("acme");
    const { tenant } = await auth.authenticate(`Bearer ${acmeKey.key}`);
    expect(tenant.metadata.name).toBe("acme");
    const known = samples.baseModels();
    const nonexistent = rejectionSync(() => resolveModel(tenant, "no-such-adapter", known));
    for (const name of ["support-bot@3", `${loraName("globex", "support-bot", 3)}`]) {
      const e = rejectionSync(() => resolveModel(tenant, name, known));
      expect(e.status).toBe(404);
      expect(e.toJSON().error).toEqual({
        ...nonexistent.toJSON().error,
        message: nonexistent.message.replace("no-such-adapter", name),
      });
    }
    // The engine-side name of acme's own adapter is not a client name either.
    expect(rejectionSync(() => resolveModel(tenant, loraName("acme", "support-bot", 2), known)).status).toBe(
      404,
    );
    expect(resolveModel(tenant, "support-bot").adapter!.loraName).toBe(loraName("acme", "support-bot", 2));
    expect(JSON.stringify(listModels(tenant))).not.toContain("globex");
  });

  it("rejects a key whose secret part was changed, even with a valid prefix", async () => {
    const k = await keys.createKey("acme");
    const auth = await router();
    const last = k.key.at(-1) === "A" ? "B" : "A";
    const forged = k.key.slice(0, -1) + last;
    const other = await keys.createKey("globex");
    const spliced = `${k.key.slice(0, 13)}${other.key.slice(13)}`; // acme's prefix, globex's secret
    for (const candidate of [forged, spliced]) {
      const e = await rejection(auth.authenticate(`Bearer ${candidate}`));
      expect([e.status, e.code]).toEqual([401, "invalid_api_key"]);
    }
  });

  it("answers missing, malformed, unknown and revoked keys with 401s that do not tell them apart", async () => {
    const auth = await router();
    const missing = await rejection(auth.authenticate(undefined));
    expect([missing.status, missing.code]).toEqual([401, "missing_api_key"]);
    const revokedKey = await keys.createKey("acme");
    await keys.revokeKey(revokedKey.id);
    const bodies = new Set<string>();
    for (const header of [
      "Basic dXNlcjpwYXNz",
      "Bearer ",
      "Bearer not-a-key",
      `Bearer lpx-AAAAAAAA-${"x".repeat(43)}`,
      `Bearer ${revokedKey.key}`,
      `Bearer ${revokedKey.key}x`,
    ]) {
      const e = await rejection(auth.authenticate(header));
      expect(e.status).toBe(401);
      bodies.add(JSON.stringify(e.toJSON()));
    }
    expect(bodies.size).toBe(1);
  });

  it("propagates a revocation to another router at once through Redis pub/sub", async () => {
    const k = await keys.createKey("acme");
    const routerA = await router();
    const routerB = await router();
    await routerA.authenticate(`Bearer ${k.key}`);
    await routerB.authenticate(`Bearer ${k.key}`); // both now hold it for an hour
    const revoked = await keys.revokeKey(k.id);
    expect(revoked).toMatchObject({ id: k.id, tenant: "acme", announced: true });
    for (const r of [routerA, routerB]) {
      await vi.waitFor(
        async () => expect((await rejection(r.authenticate(`Bearer ${k.key}`))).status).toBe(401),
        {
          timeout: 10_000,
          interval: 20,
        },
      );
    }
    expect(await keys.revokeKey(k.id)).toMatchObject({ revoked_at: revoked!.revoked_at });
    expect(await keys.revokeKey("key_doesnotexist")).toBeNull();
  });

  it("locks out every key of a tenant that no longer exists", async () => {
    const k = await keys.createKey("acme");
    const auth = await router();
    await auth.authenticate(`Bearer ${k.key}`);
    tenants.remove("acme");
    try {
      expect((await rejection(auth.authenticate(`Bearer ${k.key}`))).status).toBe(401);
    } finally {
      tenants.applyDocument("acme", "test", acmeLike());
    }
    expect((await auth.authenticate(`Bearer ${k.key}`)).tenant.metadata.name).toBe("acme");
  });

  it("records last use in a batch when the authenticator flushes", async () => {
    const k = await keys.createKey("globex");
    const auth = createAuthenticator({ keys, tenants, channel });
    await auth.authenticate(`Bearer ${k.key}`);
    expect((await keys.listKeys("globex")).find((x) => x.id === k.id)!.last_used_at).toBeNull();
    await auth.close();
    expect((await keys.listKeys("globex")).find((x) => x.id === k.id)!.last_used_at).not.toBeNull();
  });

  it("refuses to create keys for malformed tenant names", async () => {
    await expect(keys.createKey("Not A Tenant")).rejects.toThrow(/invalid tenant name/);
  });
});
