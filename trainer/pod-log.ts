// Reads a training pod's log through the API server (client-node's CoreV1Api; the server proxies
// to the pod's kubelet). Until the pod has a node the server answers 200 with an empty body and no
// Content-Type, which client-node 2.0.1 cannot parse (it throws "No Content-Type defined"); until
// its container has started it answers 400. Both mean no log yet — the normal state of a pending
// Job, and nothing to report. Any other
// failure (forbidden, the pod gone, the kubelet unreachable) leaves this poll without progress
// and is logged once per pod and status, so a missing `pods/log` permission shows up in the
// trainer's log instead of as a fine-tune that silently never reports a step.
import { ApiException, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "../core/log.ts";

/** The last lines read per poll: progress lines are few per poll, and steps are recorded once. */
const TAIL_LINES = 2_000;

const NO_HOST_YET = /No Content-Type defined/;

export type PodLogReader = (namespace: string, pod: string) => Promise<string | undefined>;

export function createPodLogReader(kc: KubeConfig, logger: Logger): PodLogReader {
  const core = kc.makeApiClient(CoreV1Api);
  const reported = new Set<string>();
  return async (namespace, name) => {
    try {
      return await core.readNamespacedPodLog({ namespace, name, tailLines: TAIL_LINES });
    } catch (err) {
      const status = err instanceof ApiException ? err.code : 0;
      if (status === 400 || (status === 0 && NO_HOST_YET.test((err as Error).message))) return undefined;
      const key = `${namespace}/${name}:${status}`;
      if (!reported.has(key)) {
        reported.add(key);
        const reason = err instanceof ApiException ? apiMessage(err) : (err as Error).message;
        logger.warn({ namespace, pod: name, status, reason }, "cannot read the training pod's log");
      }
      return undefined;
    }
  };
}

function apiMessage(err: ApiException<unknown>): string {
  const body = err.body;
  if (typeof body === "string") {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return (body as { message?: string } | undefined)?.message ?? err.message;
}
