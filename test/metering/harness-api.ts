// A tenant-facing HTTP surface for metering tests: the real key store and authenticator in front
// of the usage API and the dashboard, on a real HTTP server, plus helpers to meter requests through the hooks,
// the spool and the writer into Postgres (the same path the router uses).
import { createServer, type Server } from "node:http";
import express from "express";
import { createKeyStore, type KeyStore } from "../../api-keys/api-keys.ts";
import type { Outcome, RequestContext } from "../../core/request-context.ts";
import type { Tenant } from "../../core/tenant.ts";
import { parsePriceTable } from "../../metering/prices.ts";
import { createSpool } from "../../metering/spool.ts";
import { createUsageStore } from "../../metering/usage-store.ts";
import { createUsageWriter, type UsageWriter } from "../../metering/usage-writer.ts";
import { createAuthenticator } from "../../router/auth/authenticate.ts";
import { createDashboardRouter } from "../../router/metering/dashboard/routes.ts";
import { createMeteringHooks, type MeteringHooks } from "../../router/metering/hooks.ts";
import { createUsageRouter } from "../../router/metering/usage-api.ts";
import { createTenantStore } from "../../tenants/tenant-store.ts";
import type { TestDb } from "../support/db.ts";
import { freePort } from "../support/process.ts";
import { ctxFor, log, PRICES, type TestRedis } from "./harness.ts";

export type Harness = {
  url: string;
  keys: KeyStore;
  hooks: MeteringHooks;
  writer: UsageWriter;
  /** Meters one request `daysAgo` days back and returns its context. */
  meter(ctx: RequestContext, outcome: Outcome): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
};

export async function startHarness(db: TestDb, r: TestRedis, tenants: Tenant[]): Promise<Harness> {
  const keys = createKeyStore({ pool: db.pool, secret: "metering-test-secret-0123456789abcdef0123456789" });
  const store = createTenantStore();
  store.replaceAll(tenants, []);
  const auth = createAuthenticator({ keys, tenants: store, log });
  const app = express();
  const api = { pool: db.pool, authenticate: (h: string | undefined) => auth.authenticate(h) };
  app.use(createUsageRouter(api), createDashboardRouter({ ...api, redis: r.redis, keys: r.keys }));
  const server: Server = createServer(app);
  const port = await freePort();
  await new Promise<void>((ok) => server.listen(port, "127.0.0.1", ok));
  const spool = createSpool({ redis: r.redis, stream: r.keys.spool(), log });
  const hooks = createMeteringHooks({
    redis: r.redis,
    keys: r.keys,
    prices: parsePriceTable(PRICES),
    spool,
    log,
  });
  const writer = createUsageWriter({
    redis: r.redis,
    stream: r.keys.spool(),
    store: createUsageStore(db.pool),
    log,
  });
  return {
    url: `http://127.0.0.1:${port}`,
    keys,
    hooks,
    writer,
    async meter(ctx, outcome) {
      try {
        await hooks.admit(ctx);
      } catch {
        return;
      }
      hooks.settle(ctx, outcome);
    },
    async flush() {
      await hooks.idle();
      await writer.drain();
    },
    async close() {
      await hooks.idle();
      await auth.close();
      await new Promise((ok) => server.close(ok));
    },
  };
}

/** A context whose request arrived `daysAgo` days (and `minutesAgo` minutes) before now. */
export function pastCtx(
  t: Tenant,
  daysAgo: number,
  over: Partial<RequestContext> = {},
  minutesAgo = 0,
): RequestContext {
  return ctxFor(t, { receivedAt: performance.now() - daysAgo * 86_400_000 - minutesAgo * 60_000, ...over });
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field in assertions
export type Json = any;

export async function getJson(url: string, key?: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: res.status, body: await res.json() };
}
