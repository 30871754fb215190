// The Tenant's status: Ready (everything in the spec is in effect), Progressing (the cluster is
// still moving towards the spec: engine replicas starting, a namespace being removed), Degraded
// (something in the spec cannot be honoured, or reconciling/erasing failed), with reasons.
import type { Condition } from "../../core/conditions.ts";
import { findCondition } from "../../core/conditions.ts";
import type { AdapterStatus, TenantStatus } from "../../core/tenant-status.ts";
import type { TenantObject } from "../context.ts";
import { buildConditions, type ConditionInput } from "../status.ts";
import type { EventRecorder } from "./events.ts";

export type Problem = { reason: string; message: string };

export type TenantOutcome = {
  tier: "shared" | "dedicated";
  pool?: string;
  endpoint?: string;
  namespace?: string;
  engine?: { replicas: number; ready: number };
  /** Why the tenant cannot be served yet, when it cannot. */
  blocked?: Problem;
  progressing?: Problem;
};

const OK: ConditionInput = { status: "False", reason: "AsExpected", message: "" };

export function tenantStatus(
  obj: TenantObject,
  outcome: TenantOutcome,
  problems: Problem[],
  adapters: AdapterStatus[],
): TenantStatus {
  const first = outcome.blocked ?? problems[0];
  const ready: ConditionInput = first
    ? { status: "False", reason: first.reason, message: first.message }
    : {
        status: "True",
        reason: "Reconciled",
        message:
          outcome.tier === "dedicated"
            ? `dedicated namespace ${outcome.namespace} and pool ${outcome.pool} reconciled`
            : `served by the shared pool ${outcome.pool}`,
      };
  const progressing: ConditionInput = outcome.progressing
    ? { status: "True", ...outcome.progressing }
    : { status: "False", reason: "Reconciled", message: "" };
  const degraded: ConditionInput =
    problems.length > 0
      ? { status: "True", reason: problems[0]!.reason, message: problems.map((p) => p.message).join("; ") }
      : OK;
  const conditions = buildConditions(
    obj.status?.conditions,
    { Ready: ready, Progressing: progressing, Degraded: degraded },
    obj.metadata.generation,
  );
  return {
    observedGeneration: obj.metadata.generation,
    tier: outcome.tier,
    ...(outcome.namespace ? { namespace: outcome.namespace } : {}),
    ...(outcome.pool ? { pool: outcome.pool } : {}),
    ...(outcome.endpoint ? { endpoint: outcome.endpoint } : {}),
    ...(outcome.engine
      ? { engineReplicas: outcome.engine.replicas, engineReadyReplicas: outcome.engine.ready }
      : {}),
    adaptersReady: adapters.filter((a) => a.ready).length,
    ...(adapters.length > 0 ? { adapters } : {}),
    conditions,
  };
}

/** Status after a failed reconcile or erasure: Degraded with the reason; the rest as it was. */
export function failedStatus(obj: TenantObject, reason: string, message: string): TenantStatus {
  const prev = obj.status ?? {};
  const keep = (type: "Ready" | "Progressing", fallback: ConditionInput): ConditionInput => {
    const c = findCondition(prev.conditions, type);
    return c ? { status: c.status, reason: c.reason, message: c.message } : fallback;
  };
  const conditions = buildConditions(
    prev.conditions,
    {
      Ready: keep("Ready", { status: "Unknown", reason: reason, message }),
      Progressing: keep("Progressing", { status: "Unknown", reason: reason, message }),
      Degraded: { status: "True", reason, message },
    },
    obj.metadata.generation,
  );
  return { ...prev, conditions };
}

// Not-ready reasons that are steps on the way to Ready rather than problems.
const TRANSIENT = new Set(["EnginePoolPending", "NamespaceTerminating"]);

/** Events for the transitions worth telling a human about. */
export async function recordTransitions(
  events: EventRecorder,
  obj: TenantObject,
  before: readonly Condition[] | undefined,
  after: readonly Condition[] | undefined,
): Promise<void> {
  const was = (type: string) => findCondition(before, type);
  const now = (type: string) => findCondition(after, type);
  const ready = now("Ready");
  if (ready && ready.status !== was("Ready")?.status) {
    if (ready.status === "True") await events.record(obj, "Normal", "Ready", ready.message);
    else if (ready.status === "False" && !TRANSIENT.has(ready.reason)) {
      await events.record(obj, "Warning", ready.reason, ready.message);
    }
  }
  const degraded = now("Degraded");
  const prev = was("Degraded");
  if (degraded?.status === "True" && (prev?.status !== "True" || prev.reason !== degraded.reason)) {
    await events.record(obj, "Warning", degraded.reason, degraded.message);
  }
}
