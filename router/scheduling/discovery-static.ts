// Local mode: replicas come from the router's --engines flag,
//   "<ns>/<pool>=<engineUrl>|<agentUrl>,<engineUrl>|<agentUrl>;<ns2>/<pool2>=..."

import { parsePoolRef } from "../../core/cluster-layout.ts";
import type { Discovery, EngineEndpoint, OnEndpoints } from "./discovery.ts";

function normalizeUrl(raw: string, what: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`--engines: ${what} '${raw}' is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new Error(`--engines: ${what} '${raw}' must be http:// or https://`);
  }
  if (u.search || u.hash || (u.pathname !== "/" && u.pathname !== "")) {
    throw new Error(`--engines: ${what} '${raw}' must be a bare origin (no path or query)`);
  }
  return u.origin;
}

/** Parses the --engines value; throws an Error naming the bad part. */
export function parseEnginesFlag(value: string): Map<string, EngineEndpoint[]> {
  const pools = new Map<string, EngineEndpoint[]>();
  // The engine URL is a replica's id, so one engine may appear in one pool only.
  const seen = new Set<string>();
  for (const group of value.split(";")) {
    const g = group.trim();
    if (g === "") continue;
    const eq = g.indexOf("=");
    if (eq < 0)
      throw new Error(`--engines: '${g}' must look like <namespace>/<pool>=<engineUrl>|<agentUrl>,...`);
    const ref = g.slice(0, eq).trim();
    parsePoolRef(ref);
    if (pools.has(ref)) throw new Error(`--engines: pool '${ref}' is listed twice`);
    const endpoints: EngineEndpoint[] = [];
    for (const pair of g.slice(eq + 1).split(",")) {
      const p = pair.trim();
      if (p === "") continue;
      const parts = p.split("|");
      if (parts.length !== 2) throw new Error(`--engines: replica '${p}' must be <engineUrl>|<agentUrl>`);
      const engineUrl = normalizeUrl(parts[0]!.trim(), "engine URL");
      const agentUrl = normalizeUrl(parts[1]!.trim(), "agent URL");
      if (seen.has(engineUrl)) throw new Error(`--engines: engine ${engineUrl} is listed twice`);
      seen.add(engineUrl);
      endpoints.push({ engineUrl, agentUrl });
    }
    if (endpoints.length === 0) throw new Error(`--engines: pool '${ref}' lists no replicas`);
    pools.set(ref, endpoints);
  }
  return pools;
}

export function createStaticDiscovery(value: string, onEndpoints: OnEndpoints): Discovery {
  const pools = parseEnginesFlag(value);
  return {
    async watch(poolRef) {
      // A pool missing from the list simply has no replicas (requests for it get a 503).
      onEndpoints(poolRef, pools.get(poolRef) ?? []);
    },
    async close() {},
  };
}

/** Every pool the flag names, so the router can start them all up front. */
export function staticPoolRefs(value: string): string[] {
  return [...parseEnginesFlag(value).keys()];
}
