// Makes an adapter resident on a replica. Warm (already resident): no I/O at all. Cold: one
// agent load per (replica, lora name), however many requests want it at once —
//   - within this process, callers join the in-flight promise;
//   - across router processes, a Redis lock (SET NX PX + owner token, renewed while loading,
//     released by compare-and-delete) lets one router call the agent while the others wait for
//     the lock to go and then confirm residency with the agent's inventory.
// If Redis is unreachable the loader falls back to loading without the lock: the agent itself
// serialises loads of one name, so the worst case is a redundant "already_loaded" call.

import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { AgentInventory, LoadRequest, LoadResult } from "../../agent-api/types.ts";
import { ApiError, isAgentErrorCode } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { createKeySpace, type KeySpace } from "../../core/redis-keys.ts";
import type { ResolvedAdapter } from "../../core/request-context.ts";
import { sleep } from "../../core/sleep.ts";
import { markResident, type ReplicaState } from "./replica-state.ts";

/** What the loader needs from the agent client (agent-api/client.ts). */
export type AgentApi = {
  load(req: LoadRequest): Promise<LoadResult>;
  list(): Promise<AgentInventory>;
};

export type EnsureResult = { loaded: "warm" | "cold"; ms: number };

export type AdapterLoaderOptions = {
  agentFor(replica: ReplicaState): AgentApi;
  redis?: Redis;
  logger: Logger;
  /** Lock lifetime; the holder renews it every third of this while its load runs. */
  lockTtlMs?: number;
  /** How long a caller waits for another router's load before giving up with a 503. */
  waitTimeoutMs?: number;
  pollMs?: number;
  /** Names the lock; default: the schema-less deployment's key space. */
  keys?: KeySpace;
};

export type AdapterLoader = {
  ensure(replica: ReplicaState, tenant: string, adapter: ResolvedAdapter): Promise<EnsureResult>;
};

const WARM: Promise<EnsureResult> = Promise.resolve(Object.freeze({ loaded: "warm", ms: 0 }));

const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`;
const RENEW = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) end return 0`;

function describe(adapter: ResolvedAdapter): string {
  return `${adapter.name}@${adapter.version}`;
}

const loadTimeout = (adapter: ResolvedAdapter) =>
  new ApiError(503, `timed out waiting for adapter '${describe(adapter)}' to load`, {
    code: "adapter_load_timeout",
  });

/** Agent failures become the router's errors: unreachable/unavailable → 503, refusals → 502. */
function toApiError(err: unknown, adapter: ResolvedAdapter): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { status?: unknown; code?: unknown; message?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(err);
  if (typeof e?.status !== "number" || e.status === 0 || e.status === 503) {
    return new ApiError(
      503,
      `adapter '${describe(adapter)}' could not be loaded: the replica's adapter agent is unavailable`,
      {
        code: "adapter_agent_unavailable",
      },
    );
  }
  return new ApiError(502, `adapter '${describe(adapter)}' could not be loaded: ${message}`, {
    code: isAgentErrorCode(e.code) ? `adapter_${e.code}` : "adapter_load_failed",
  });
}

export function createAdapterLoader(opts: AdapterLoaderOptions): AdapterLoader {
  const lockTtlMs = opts.lockTtlMs ?? 30_000;
  const waitTimeoutMs = opts.waitTimeoutMs ?? 120_000;
  const pollMs = opts.pollMs ?? 25;
  const keys = opts.keys ?? createKeySpace();
  const flights = new Map<string, Promise<EnsureResult>>();
  const log = opts.logger;

  async function callAgent(replica: ReplicaState, tenant: string, adapter: ResolvedAdapter): Promise<void> {
    const agent = opts.agentFor(replica);
    let res: LoadResult;
    try {
      res = await agent.load({
        tenant,
        adapter: adapter.name,
        version: adapter.version,
        source: adapter.source,
        ...(adapter.sha256 ? { sha256: adapter.sha256 } : {}),
      });
    } catch (err) {
      const e = toApiError(err, adapter);
      if (e.status === 503) replica.agentOk = false;
      throw e;
    }
    // The agent derives the name by the same rule (core/storage-layout loraName); if the two ever
    // disagreed, requests would name an adapter the engine does not have.
    if (res.lora_name !== adapter.loraName) {
      throw new ApiError(502, `adapter agent registered '${res.lora_name}', expected '${adapter.loraName}'`, {
        code: "adapter_name_mismatch",
      });
    }
  }

  async function residentOnAgent(replica: ReplicaState, loraName: string): Promise<boolean> {
    const inv = await opts.agentFor(replica).list();
    return inv.adapters.some((a) => a.lora_name === loraName && a.loaded);
  }

  async function loadUnderLock(
    redis: Redis,
    replica: ReplicaState,
    tenant: string,
    adapter: ResolvedAdapter,
  ): Promise<void> {
    const key = keys.adapterLoadLock(replica.id, adapter.loraName);
    const token = randomUUID();
    const deadline = Date.now() + waitTimeoutMs;
    for (;;) {
      let acquired: boolean;
      try {
        acquired = (await redis.set(key, token, "PX", lockTtlMs, "NX")) === "OK";
      } catch (err) {
        log.warn(
          { err: String(err), replica: replica.id },
          "adapter load lock unavailable; loading without it",
        );
        return callAgent(replica, tenant, adapter);
      }
      if (acquired) {
        const renew = setInterval(() => {
          redis.eval(RENEW, 1, key, token, lockTtlMs).catch(() => {});
        }, lockTtlMs / 3);
        renew.unref();
        try {
          return await callAgent(replica, tenant, adapter);
        } finally {
          clearInterval(renew);
          await redis.eval(RELEASE, 1, key, token).catch(() => {});
        }
      }
      // Another router holds the lock: wait for it to go, then ask the agent whether it worked.
      while ((await redis.exists(key).catch(() => 0)) === 1) {
        if (Date.now() > deadline) {
          throw loadTimeout(adapter);
        }
        await sleep(pollMs);
      }
      try {
        if (await residentOnAgent(replica, adapter.loraName)) return;
      } catch (err) {
        throw toApiError(err, adapter);
      }
      // The holder failed (or the adapter was evicted meanwhile): try to take the lock ourselves.
      if (Date.now() > deadline) {
        throw loadTimeout(adapter);
      }
    }
  }

  async function load(
    replica: ReplicaState,
    tenant: string,
    adapter: ResolvedAdapter,
  ): Promise<EnsureResult> {
    const started = performance.now();
    if (opts.redis) await loadUnderLock(opts.redis, replica, tenant, adapter);
    else await callAgent(replica, tenant, adapter);
    const done = performance.now();
    markResident(replica, adapter.loraName, done);
    return { loaded: "cold", ms: done - started };
  }

  return {
    ensure(replica, tenant, adapter) {
      if (replica.resident.has(adapter.loraName)) return WARM;
      const key = `${replica.id}\n${adapter.loraName}`;
      const joined = flights.get(key);
      if (joined) return joined;
      // Registered synchronously, before any await, so a pick made right after this call
      // already sees the load in progress and sends its request here too.
      replica.loading.add(adapter.loraName);
      const flight = load(replica, tenant, adapter).finally(() => {
        flights.delete(key);
        replica.loading.delete(adapter.loraName);
      });
      flights.set(key, flight);
      return flight;
    },
  };
}
