// Kubernetes Events for significant transitions (Ready, Degraded, erasure), so `kubectl describe
// tenant` tells the story. Events of cluster-scoped objects go to the "default" namespace, as
// client-go's recorder does. A failed Event write is logged and never fails a reconcile.
import type { Logger } from "../../core/log.ts";
import type { KubeClient } from "../../kube/client.ts";
import { type KubeObject, R } from "../../kube/types.ts";

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void>;
}

export function createEventRecorder(client: KubeClient, identity: string, log: Logger): EventRecorder {
  return {
    async record(obj, type, reason, message) {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
      const name = obj.metadata.name ?? "";
      const event: KubeObject = {
        apiVersion: "v1",
        kind: "Event",
        metadata: { generateName: `${name}.`, namespace: obj.metadata.namespace ?? "default" },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name,
          namespace: obj.metadata.namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: "loraplex-controller" },
        reportingComponent: "loraplex.io/controller",
        reportingInstance: identity.slice(0, 128),
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      try {
        await client.create(R.events, event);
      } catch (err) {
        log.warn({ err: (err as Error).message, reason, object: name }, "could not record an Event");
      }
    },
  };
}
