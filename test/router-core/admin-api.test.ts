// The operator admin API over real HTTP, real Postgres and Redis: the admin token and tenant keys
// are each refused where the other belongs.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyStore } from "../../api-keys/api-keys.ts";
import { loadAdminToken } from "../../api-keys/secrets.ts";
import { loadServiceConfig } from "../../core/config.ts";
import { ApiError } from "../../core/errors.ts";
import { createRedis } from "../../core/redis.ts";
import { createKeySpace } from "../../core/redis-keys.ts";
import { createAdminRouter } from "../../router/api/admin.ts";
import { type Authenticator, createAuthenticator } from "../../router/auth/authenticate.ts";
import { createTenantStore } from "../../tenants/tenant-store.ts";
import { type TestDb, testDb } from "../support/db.ts";
import { acmeLike, globexLike } from "../support/tenants.ts";

const ADMIN = loadAdminToken({ LORAPLEX_DEV_SECRETS: "1" });

// The fields these tests read from the API's JSON answers.
type Reply = {
  id: string;
  key: string;
  error: { message: string; type: string; code: string | null; param: string | null };
  data: { id: string; name: string; tier: string; revoked_at: string | null }[];
  problems: unknown[];
};

describe("admin API", () => {
  let db: TestDb;
  let redis: Redis;
  let server: Server;
  let base: string;
  let auth: Authenticator;

  const call = async (
    method: string,
    path: string,
    opts: { token?: string; body?: unknown; raw?: string } = {},
  ) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
    });
    return { status: res.status, body: (await res.json()) as Reply };
  };

  beforeAll(async () => {
    db = await testDb("rc_admin");
    redis = createRedis(loadServiceConfig());
    const channel = createKeySpace({ schema: db.schema }).keyRevocations();
    const keys = createKeyStore({
      pool: db.pool,
      secret: "admin-test-secret-0123456789abcdefghij",
      redis,
      channel,
    });
    const tenants = createTenantStore();
    tenants.replaceAll(
      [acmeLike(), globexLike()],
      [{ source: "x.yaml#0", name: "broken", error: "spec.models: missing" }],
    );
    auth = createAuthenticator({ keys, tenants, redis, channel });
    await auth.ready;
    const app = express();
    app.use(createAdminRouter({ keys, tenants, adminToken: ADMIN }));
    server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await auth.close();
    await redis.quit();
    await db.cleanup();
  });

  it("creates, lists and revokes keys; the key is shown only at creation", async () => {
    const created = await call("POST", "/admin/v1/keys", {
      token: ADMIN,
      body: { tenant: "acme", name: "web" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ tenant: "acme", name: "web", id: expect.stringMatching(/^key_/) });
    expect(created.body.key).toMatch(/^lpx-/);
    expect((await auth.authenticate(`Bearer ${created.body.key}`)).tenant.metadata.name).toBe("acme");

    const listed = await call("GET", "/admin/v1/keys?tenant=acme", { token: ADMIN });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((k: { id: string }) => k.id)).toContain(created.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    expect(JSON.stringify(listed.body)).not.toMatch(/"hash"/);
    expect((await call("GET", "/admin/v1/keys?tenant=globex", { token: ADMIN })).body.data).toEqual([]);

    const revoked = await call("DELETE", `/admin/v1/keys/${created.body.id}`, { token: ADMIN });
    expect(revoked).toMatchObject({
      status: 200,
      body: { id: created.body.id, revoked: true, tenant: "acme" },
    });
    const after = (await call("GET", "/admin/v1/keys", { token: ADMIN })).body.data.find(
      (k: { id: string }) => k.id === created.body.id,
    );
    expect(after!.revoked_at).toMatch(/^\d{4}-/);
  });

  it("answers unknown tenants, unknown keys and bad bodies in the OpenAI error shape", async () => {
    const unknown = await call("POST", "/admin/v1/keys", { token: ADMIN, body: { tenant: "initech" } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({
      type: "not_found_error",
      code: "tenant_not_found",
      param: "tenant",
    });
    expect((await call("DELETE", "/admin/v1/keys/key_nope", { token: ADMIN })).status).toBe(404);
    expect((await call("DELETE", "/admin/v1/keys/..%2F..", { token: ADMIN })).status).toBe(404);
    for (const body of [{}, { tenant: 5 }, { tenant: "acme", name: 7 }, { tenant: "acme", extra: true }]) {
      const r = await call("POST", "/admin/v1/keys", { token: ADMIN, body });
      expect(r.status).toBe(400);
      expect(r.body.error.type).toBe("invalid_request_error");
    }
    const malformed = await call("POST", "/admin/v1/keys", { token: ADMIN, raw: "{nope" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/not valid JSON/);
    const huge = await call("POST", "/admin/v1/keys", {
      token: ADMIN,
      body: { tenant: "acme", name: "x".repeat(40_000) },
    });
    expect(huge.status).toBe(413);
    expect((await call("GET", "/admin/v1/keys?tenant=NOT_A_NAME", { token: ADMIN })).status).toBe(400);
  });

  it("lists tenants with their tier and the documents that failed validation", async () => {
    const r = await call("GET", "/admin/v1/tenants", { token: ADMIN });
    expect(r.status).toBe(200);
    expect(r.body.data.map((t: { name: string; tier: string }) => [t.name, t.tier])).toEqual([
      ["acme", "shared"],
      ["globex", "shared"],
    ]);
    expect(r.body.problems).toEqual([{ source: "x.yaml#0", name: "broken", error: "spec.models: missing" }]);
  });

  it("never accepts a tenant key as the admin token, nor the admin token as a tenant key", async () => {
    const tenantKey = (await call("POST", "/admin/v1/keys", { token: ADMIN, body: { tenant: "globex" } }))
      .body.key;
    for (const token of [tenantKey, undefined, "", `${ADMIN}x`, ADMIN.slice(0, -1)]) {
      for (const [method, path] of [
        ["GET", "/admin/v1/keys"],
        ["POST", "/admin/v1/keys"],
        ["GET", "/admin/v1/tenants"],
        ["DELETE", "/admin/v1/keys/key_x"],
      ] as const) {
        const r = await call(method, path, {
          token,
          body: method === "POST" ? { tenant: "globex" } : undefined,
        });
        expect(r.status).toBe(401);
        expect(r.body.error.type).toBe("authentication_error");
      }
    }
    let refused: unknown;
    try {
      await auth.authenticate(`Bearer ${ADMIN}`);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).status).toBe(401);
  });
});
