// The cache's own rules (TTLs, single flight, invalidation), with a counting lookup function in
// place of Postgres; the real store and Redis propagation are in test/router-core.
import { describe, expect, it } from "vitest";
import { type ResolvedKey, UNKNOWN_PREFIX } from "./api-keys.ts";
import { createKeyCache } from "./key-cache.ts";

function setup(
  table: Map<string, ResolvedKey>,
  opts: { positiveTtlMs?: number; negativeTtlMs?: number } = {},
) {
  let t = 0;
  const calls: string[] = [];
  const cache = createKeyCache({
    channel: "unused",
    now: () => t,
    lookup: async (key) => {
      calls.push(key);
      return table.get(key) ?? null;
    },
    ...opts,
  });
  return { cache, calls, advance: (ms: number) => (t += ms) };
}

describe("key cache", () => {
  it("answers a hit synchronously and goes back to the store only after the TTL", async () => {
    const { cache, calls, advance } = setup(new Map([["k1", { keyId: "key_1", tenant: "acme" }]]), {
      positiveTtlMs: 5000,
    });
    expect(await cache.get("k1")).toEqual({ keyId: "key_1", tenant: "acme" });
    expect(cache.get("k1")).toEqual({ keyId: "key_1", tenant: "acme" }); // not a Promise
    advance(3000);
    cache.get("k1");
    expect(calls).toEqual(["k1"]);
    advance(2500);
    await cache.get("k1");
    expect(calls).toEqual(["k1", "k1"]);
  });

  it("refreshes a busy key in the background near the end of its TTL", async () => {
    const table = new Map([["k1", { keyId: "key_1", tenant: "acme" }]]);
    const { cache, calls, advance } = setup(table, { positiveTtlMs: 5000 });
    await cache.get("k1");
    advance(4500);
    table.delete("k1"); // revoked in the store meanwhile
    expect(cache.get("k1")).toEqual({ keyId: "key_1", tenant: "acme" }); // still inside its TTL
    await new Promise((r) => setImmediate(r));
    expect(calls).toHaveLength(2);
    expect(await cache.get("k1")).toBeNull(); // the refresh saw the revocation
  });

  it("remembers unknown keys for the negative TTL only", async () => {
    const table = new Map<string, ResolvedKey>();
    const { cache, calls, advance } = setup(table, { negativeTtlMs: 1000 });
    expect(await cache.get("new")).toBeNull();
    expect(cache.get("new")).toBeNull();
    table.set("new", { keyId: "key_n", tenant: "acme" });
    advance(1001);
    expect(await cache.get("new")).toEqual({ keyId: "key_n", tenant: "acme" });
    expect(calls).toEqual(["new", "new"]);
  });

  it("looks a key up once for many concurrent first requests", async () => {
    const { cache, calls } = setup(new Map([["k1", { keyId: "key_1", tenant: "acme" }]]));
    const all = await Promise.all(Array.from({ length: 50 }, () => cache.get("k1")));
    expect(all.every((r) => r?.keyId === "key_1")).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it("drops every cached entry of a revoked key id, and a lookup racing the revocation is not kept", async () => {
    const table = new Map([["k1", { keyId: "key_1", tenant: "acme" }]]);
    const { cache, calls } = setup(table);
    await cache.get("k1");
    cache.invalidateKeyId("key_1");
    const racing = cache.get("k1");
    cache.invalidateKeyId("key_1");
    await racing;
    await cache.get("k1");
    expect(calls).toHaveLength(3);
  });
});

describe("unknown key prefixes (issue 13, item 7)", () => {
  it("refuses every key under a prefix no key has, with one lookup per TTL", async () => {
    let t = 0;
    const calls: string[] = [];
    const cache = createKeyCache({
      channel: "unused",
      now: () => t,
      unknownPrefixTtlMs: 60_000,
      lookup: async (key) => {
        calls.push(key);
        return key.startsWith("lpx-Known123-") ? { keyId: "key_1", tenant: "acme" } : UNKNOWN_PREFIX;
      },
    });
    const bogus = (i: number) => `lpx-Bogus123-${String(i).padStart(43, "x")}`;
    expect(await cache.get(bogus(0))).toBeNull();
    for (let i = 1; i < 1000; i++) expect(cache.get(bogus(i))).toBeNull(); // synchronous: no lookup
    expect(calls).toHaveLength(1);
    expect(cache.cached(bogus(5))).toBe(true);
    expect(await cache.get(`lpx-Known123-${"y".repeat(43)}`)).toEqual({ keyId: "key_1", tenant: "acme" });
    t += 60_001;
    await cache.get(bogus(1));
    expect(calls).toHaveLength(3);
  });
});
