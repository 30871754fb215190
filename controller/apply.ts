// Server-side apply that writes only when something would change. Two checks, both against the
// informer cache (no request): the hash of the desired object, kept in an annotation, catches
// fields the controller stopped setting (SSA then removes them); a subset comparison of desired
// against observed catches drift, i.e. someone else changing a field the controller owns.
import { createHash } from "node:crypto";
import type { KubeClient } from "../kube/client.ts";
import type { Informer } from "../kube/informer.ts";
import { HASH_ANNOTATION, type KubeObject, type ResourceType } from "../kube/types.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { sameQuantity } from "./quantity.ts";

export function hashOf(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, 20);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function isEmpty(v: unknown): boolean {
  if (v === "" || v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === "object" && Object.keys(v as object).length === 0;
}

/**
 * True when every field set in `desired` has the same value in `observed`. Fields the server
 * defaults (present only in observed) are ignored; empty desired values match absent ones,
 * because the API server drops empty optional fields.
 */
export function isSubset(desired: unknown, observed: unknown): boolean {
  if (isEmpty(desired)) return isEmpty(observed);
  if (typeof desired === "string" && typeof observed === "string") {
    return desired === observed || sameQuantity(desired, observed);
  }
  if (Array.isArray(desired)) {
    return (
      Array.isArray(observed) &&
      desired.length === observed.length &&
      desired.every((d, i) => isSubset(d, observed[i]))
    );
  }
  if (typeof desired === "object" && desired !== null) {
    if (typeof observed !== "object" || observed === null || Array.isArray(observed)) return false;
    const o = observed as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, o[k]));
  }
  return desired === observed;
}

export type Applier = {
  /** Applies `desired` unless the cached object already matches; returns the (new or cached) object. */
  apply<T extends KubeObject>(informer: Informer<T>, desired: KubeObject): Promise<T>;
};

export function createApplier(client: KubeClient, metrics: ControllerMetrics): Applier {
  return {
    async apply<T extends KubeObject>(informer: Informer<T>, desired: KubeObject): Promise<T> {
      const rt: ResourceType = informer.resource;
      const hash = hashOf(desired);
      const withHash: KubeObject = {
        ...desired,
        metadata: {
          ...desired.metadata,
          annotations: { ...desired.metadata.annotations, [HASH_ANNOTATION]: hash },
        },
      };
      const observed = informer.get(desired.metadata.name ?? "", desired.metadata.namespace);
      // Being deleted: applying cannot stop that; the delete event brings us back to recreate it.
      if (observed?.metadata.deletionTimestamp) return observed;
      if (
        observed &&
        observed.metadata.annotations?.[HASH_ANNOTATION] === hash &&
        isSubset(withHash, observed)
      ) {
        metrics.applySkipped.inc({ resource: rt.plural });
        return observed;
      }
      const written = await client.apply<T>(rt, withHash);
      informer.remember(written);
      return written;
    },
  };
}
