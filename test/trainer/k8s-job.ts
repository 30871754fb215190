// The Job controller's part in trainer tests: the test control plane runs no kubelet, so no
// training pod ever runs and a test sets the Job's terminal status itself.
import { KubeApiError, type KubeClient } from "../../kube/client.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import { until } from "../support/stack.ts";

/**
 * Plays the Job controller's last step: sets the Job's terminal status through /status. The
 * control plane runs a Job controller (no kubelet, so pods never run): it may have started the
 * Job already, and a write that races it is retried on the newer object.
 */
export async function finishJobAs(
  kube: KubeClient,
  namespace: string,
  name: string,
  outcome: "Complete" | "Failed",
  waitMs: number,
): Promise<void> {
  const attempt = async () => {
    const k = (await kube.get<KubeObject>(R.jobs, name, namespace))!;
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const startTime = (k.status as { startTime?: string } | undefined)?.startTime;
    if (!startTime) {
      // The API takes a terminal status only for a started Job.
      k.status = { ...(k.status as object), startTime: now };
    } else {
      const cond = (type: string, reason: string) => ({
        type,
        status: "True",
        reason,
        message: `${reason} (set by the test)`,
        lastProbeTime: now,
        lastTransitionTime: now,
      });
      const counts = { active: 0, ready: 0, terminating: 0, uncountedTerminatedPods: {} };
      k.status =
        outcome === "Complete"
          ? {
              ...counts,
              startTime,
              completionTime: now,
              succeeded: 1,
              conditions: [
                cond("SuccessCriteriaMet", "CompletionsReached"),
                cond("Complete", "CompletionsReached"),
              ],
            }
          : {
              ...counts,
              startTime,
              failed: 1,
              conditions: [
                cond("FailureTarget", "BackoffLimitExceeded"),
                cond("Failed", "BackoffLimitExceeded"),
              ],
            };
    }
    try {
      await kube.replace(R.jobs, k, "status");
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return false;
      throw err;
    }
    return startTime !== undefined;
  };
  await until(attempt, `Job ${name} marked ${outcome}`, waitMs);
}
