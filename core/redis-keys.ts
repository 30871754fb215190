// Every Redis key and pub/sub channel Loraplex uses is built here, under one prefix per
// deployment: "loraplex:", or "loraplex:<schema>:" when the deployment uses its own Postgres
// schema (tests and side-by-side installs share one Redis that way without seeing each other).
//
// Every key of one tenant carries the hash tag {t:<tenant>}, so one Lua script can read and
// write all of a tenant's counters atomically on Redis Cluster (they all land in one slot), and
// erasure can find them with one SCAN pattern.
import { createHash } from "node:crypto";

export type KeySpaceOptions = {
  /** The deployment's Postgres schema, if it has its own (DATABASE_SCHEMA, --db-schema). */
  schema?: string;
  /** An explicit prefix instead of the one derived from the schema (metering's keyPrefix). */
  prefix?: string;
};

export type KeySpace = {
  /** What every key and channel below starts with. */
  prefix: string;
  /** "<prefix>{t:<tenant>}" — the root of all of a tenant's keys. */
  tenant(tenant: string): string;
  /** The SCAN pattern that matches every key of the tenant. */
  tenantPattern(tenant: string): string;
  rateBucket(tenant: string, scope: ScopeRef): string;
  leases(tenant: string, scope: ScopeRef): string;
  dayBudget(tenant: string, day: string): string;
  dayReservations(tenant: string, day: string): string;
  monthBudget(tenant: string, month: string): string;
  monthReservations(tenant: string, month: string): string;
  /** The usage spool; one stream for all tenants, entries carry a `t` field. */
  spool(): string;
  /** Lock held by the one router that loads an adapter onto a replica; the others wait. */
  adapterLoadLock(replicaId: string, loraName: string): string;
  /** Pub/sub channel on which API key revocations reach every router. */
  keyRevocations(): string;
  /** BullMQ prefix of the vector store ingestion queue (retrieval/queue.ts); BullMQ adds the rest. */
  retrievalQueuePrefix(): string;
  /**
   * The fair-share counters of one engine pool (router/fairness): a hash, field = tenant or
   * tenant + hashed end user. It holds numbers only and expires an hour after its last use.
   */
  fairCounters(poolRef: string): string;
};

export type ScopeRef = { kind: "tenant" } | { kind: "key"; id: string } | { kind: "user"; id: string };

// Client-supplied values (end user) are hashed: bounded length, no glob or brace characters.
export const safe = (s: string) => createHash("sha256").update(s).digest("base64url").slice(0, 22);
const scopeSuffix = (s: ScopeRef) =>
  s.kind === "tenant" ? "t" : s.kind === "key" ? `k:${safe(s.id)}` : `u:${safe(s.id)}`;

// Glob metacharacters in a prefix would widen the erasure SCAN beyond the tenant.
const escapeGlob = (s: string) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

export function createKeySpace(opts: KeySpaceOptions = {}): KeySpace {
  const prefix = opts.prefix ?? (opts.schema ? `loraplex:${opts.schema}:` : "loraplex:");
  const tenant = (t: string) => `${prefix}{t:${t}}`;
  return {
    prefix,
    tenant,
    tenantPattern: (t) => `${escapeGlob(tenant(t))}:*`,
    rateBucket: (t, s) => `${tenant(t)}:rl:${scopeSuffix(s)}`,
    leases: (t, s) => `${tenant(t)}:cc:${scopeSuffix(s)}`,
    dayBudget: (t, d) => `${tenant(t)}:bd:${d}`,
    dayReservations: (t, d) => `${tenant(t)}:bdx:${d}`,
    monthBudget: (t, m) => `${tenant(t)}:bm:${m}`,
    monthReservations: (t, m) => `${tenant(t)}:bmx:${m}`,
    spool: () => `${prefix}usage:spool`,
    adapterLoadLock: (replicaId, loraName) => `${prefix}adapter-load:${replicaId}:${loraName}`,
    keyRevocations: () => `${prefix}keys:revoked`,
    retrievalQueuePrefix: () => `${prefix}retrieval`,
    fairCounters: (poolRef) => `${prefix}fair:${poolRef}`,
  };
}
