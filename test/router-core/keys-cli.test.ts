// `loraplex keys ...` as a real process against real Postgres and Redis, and a key it creates
// working in (and its revocation reaching) a router's authenticator.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createKeyStore } from "../../api-keys/api-keys.ts";
import { loadServiceConfig } from "../../core/config.ts";
import { createRedis } from "../../core/redis.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import { type Authenticator, createAuthenticator } from "../../router/auth/authenticate.ts";
import { loadTenantDir } from "../../tenants/dir-source.ts";
import { createTenantStore } from "../../tenants/tenant-store.ts";
import { type TestDb, testDb } from "../support/db.ts";

const CLI = resolve(import.meta.dirname, "../../bin/loraplex.js");
const SECRET = "cli-test-secret-0123456789abcdefghijklmn";

describe("loraplex keys (real process)", () => {
  let db: TestDb;
  let redis: Redis;
  let auth: Authenticator;

  const run = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(
        process.execPath,
        [CLI, "keys", ...args],
        {
          cwd: resolve(import.meta.dirname, "../.."),
          env: { ...process.env, DATABASE_SCHEMA: db.schema, LORAPLEX_KEY_SECRET: SECRET, ...env },
          timeout: 60_000,
        },
        (err, stdout, stderr) => done({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    db = await testDb("rc_cli");
    redis = createRedis(loadServiceConfig());
    const channel = createKeySpace({ schema: db.schema }).keyRevocations();
    const tenants = createTenantStore();
    const samples = await loadTenantDir("manifests/samples");
    tenants.replaceAll(samples.tenants, samples.problems);
    // A router's view with hour-long TTLs: only the CLI's pub/sub message can revoke promptly.
    auth = createAuthenticator({
      keys: createKeyStore({ pool: db.pool, secret: SECRET, channel }),
      tenants,
      redis,
      channel,
      positiveTtlMs: 3_600_000,
    });
    await auth.ready;
  });
  afterAll(async () => {
    await auth.close();
    await redis.quit();
    await db.cleanup();
  });

  it("creates a key that the router accepts, lists it and revokes it everywhere", async () => {
    const created = await run(["create", "--tenant", "acme", "--name", "cli test"]);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^lpx-[0-9A-Za-z]{8}-[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/store the key now/);
    const who = await auth.authenticate(`Bearer ${key}`);
    expect(who.tenant.metadata.name).toBe("acme");

    const listed = await run(["list", "--tenant", "acme"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+TENANT\s+NAME/);
    expect(listed.stdout).toContain(who.keyId);
    expect(listed.stdout).toContain("cli test");
    expect(listed.stdout).not.toContain(key.slice("lpx-12345678-".length));
    const json = JSON.parse((await run(["list", "--json"])).stdout);
    expect(json).toContainEqual(expect.objectContaining({ id: who.keyId, tenant: "acme", revoked_at: null }));

    const revoked = await run(["revoke", who.keyId]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${who.keyId}`);
    expect(revoked.stderr).not.toMatch(/could not announce/);
    await vi.waitFor(
      () => expect(auth.authenticate(`Bearer ${key}`)).rejects.toMatchObject({ status: 401 }),
      {
        timeout: 10_000,
        interval: 20,
      },
    );
    expect((await run(["list", "--json", "--tenant", "acme"])).stdout).toMatch(/"revoked_at":"\d{4}-/);
  });

  it("prints JSON with --json and accepts a tenant outside the samples only with --no-check", async () => {
    const asJson = await run(["create", "--tenant", "globex", "--json"]);
    expect(asJson.code).toBe(0);
    expect(JSON.parse(asJson.stdout)).toMatchObject({
      tenant: "globex",
      key: expect.stringMatching(/^lpx-/),
    });

    const unknown = await run(["create", "--tenant", "initech"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no valid Tenant 'initech' in manifests\/samples \(found: .*acme, globex/);
    expect(unknown.stdout).toBe("");
    const unchecked = await run(["create", "--tenant", "initech", "--no-check"]);
    expect(unchecked.code).toBe(0);
  });

  it("explains usage errors, a missing secret and unknown ids", async () => {
    const noTenant = await run(["create"]);
    expect(noTenant).toMatchObject({ code: 2, stderr: expect.stringMatching(/--tenant is required/) });
    expect((await run(["frobnicate"])).code).toBe(2);
    expect((await run(["revoke"])).code).toBe(2);
    const noSecret = await run(["create", "--tenant", "acme"], { LORAPLEX_KEY_SECRET: "" });
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toMatch(/LORAPLEX_KEY_SECRET is not set/);
    const missing = await run(["revoke", "key_doesnotexist"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no key 'key_doesnotexist'/);
  });

  it("is listed in `loraplex --help`", async () => {
    const help = await new Promise<string>((done) =>
      execFile(process.execPath, [CLI, "--help"], (_e, out) => done(out)),
    );
    expect(help).toMatch(/keys\s+create, list and revoke tenant API keys/);
  });
});
