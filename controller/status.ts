// Status writing shared by the Tenant and ModelPool reconcilers: conditions keep their
// lastTransitionTime while their status stays the same, and the /status subresource is written
// only when the computed status differs from the cached one, retrying on conflicts.
import type { Condition, ConditionType } from "../core/conditions.ts";
import { KubeApiError, type KubeClient } from "../kube/client.ts";
import type { Informer } from "../kube/informer.ts";
import type { KubeObject } from "../kube/types.ts";
import { canonicalJson } from "./apply.ts";

export type ConditionInput = { status: "True" | "False" | "Unknown"; reason: string; message: string };

const MAX_CONFLICT_RETRIES = 4;

/** Builds the conditions list in a fixed order, carrying transition times over from `previous`. */
export function buildConditions(
  previous: readonly Condition[] | undefined,
  next: Record<ConditionType, ConditionInput>,
  generation: number | undefined,
  now = new Date(),
): Condition[] {
  return (Object.keys(next) as ConditionType[]).map((type) => {
    const want = next[type];
    const old = previous?.find((c) => c.type === type);
    return {
      type,
      status: want.status,
      reason: want.reason,
      message: want.message.slice(0, 32_000),
      lastTransitionTime:
        old && old.status === want.status
          ? old.lastTransitionTime
          : now.toISOString().replace(/\.\d{3}Z$/, "Z"),
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    };
  });
}

function sameStatus(a: unknown, b: unknown): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}

/** Writes `status` through the /status subresource unless it is unchanged; true when written. */
export async function writeStatus<T extends KubeObject>(
  client: KubeClient,
  informer: Informer<T>,
  obj: T,
  status: unknown,
): Promise<boolean> {
  let current: T | undefined = obj;
  for (let attempt = 0; current; attempt++) {
    if (sameStatus(current.status, status)) return false;
    const { managedFields: _omit, ...metadata } = current.metadata;
    try {
      const written = await client.replace<T>(informer.resource, { ...current, metadata, status }, "status");
      informer.remember(written);
      return true;
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.status !== 409 || attempt >= MAX_CONFLICT_RETRIES) throw err;
      // Someone changed the object since our cache saw it: write on top of the latest version.
      current = await client.get<T>(informer.resource, obj.metadata.name!, obj.metadata.namespace);
      if (current) informer.remember(current);
    }
  }
  return false;
}
