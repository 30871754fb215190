// Shared set-up for metering tests: a Postgres schema of their own (migrated), a Redis key prefix
// of their own, and builders for tenants and request contexts like the router makes them.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { loadServiceConfig } from "../../core/config.ts";
import { createLogger } from "../../core/log.ts";
import { createRedis, deleteKeysMatching } from "../../core/redis.ts";
import { createKeySpace, type KeySpace } from "../../core/redis-keys.ts";
import type { Outcome, RequestContext } from "../../core/request-context.ts";
import { parseTenant, type Tenant } from "../../core/tenant.ts";
import { uniqueName } from "../support/unique.ts";

export const log = createLogger("metering-test", "silent");

export const PRICES = {
  models: { "base-8b": { input: 0.5, output: 1.5 }, "embed-small": { input: 0.02, output: 0 } },
  adapters: { "*/support-bot": { input: 1, output: 3 } },
};

export function tenant(name: string, spec: Record<string, unknown> = {}): Tenant {
  const r = parseTenant({
    apiVersion: "loraplex.io/v1alpha1",
    kind: "Tenant",
    metadata: { name },
    spec: { models: ["base-8b", "embed-small"], ...spec },
  });
  if (!r.ok) throw new Error(r.error);
  return r.tenant;
}

export function ctxFor(t: Tenant, over: Partial<RequestContext> = {}): RequestContext {
  return {
    requestId: `req_${randomUUID()}`,
    receivedAt: performance.now(),
    endpoint: "chat.completions",
    tenant: t,
    keyId: "key_test",
    model: { requested: "base-8b", baseModel: "base-8b" },
    stream: false,
    promptTokensEstimate: 100,
    maxOutputTokens: 100,
    stage: "authenticated",
    ...over,
  };
}

export const ok = (prompt: number, completion: number, over: Partial<Outcome> = {}): Outcome => ({
  status: "ok",
  httpStatus: 200,
  replica: "sim-0",
  promptTokens: prompt,
  completionTokens: completion,
  ttftMs: 5,
  durationMs: 20,
  ...over,
});

export type TestRedis = { redis: Redis; keys: KeySpace; prefix: string; cleanup(): Promise<void> };

export function testRedis(name: string): TestRedis {
  const prefix = `${uniqueName(name)}:`;
  const redis = createRedis(loadServiceConfig());
  return {
    redis,
    keys: createKeySpace({ prefix }),
    prefix,
    async cleanup() {
      await deleteKeysMatching(redis, `${prefix}*`);
      redis.disconnect();
    },
  };
}
