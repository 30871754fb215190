// Runs one fine-tune as a Kubernetes Job and follows it to the end. Every step is idempotent, so
// a retried task or one recovered from a dead worker (BullMQ stalled-job handling) picks up the
// same Job: create-if-absent under a name derived from the fine-tune id, progress recorded from
// the last step already stored, registration that ignores a repeat.

import type { S3Client } from "@aws-sdk/client-s3";
import type pg from "pg";
import type { Logger } from "../core/log.ts";
import { sleep } from "../core/sleep.ts";
import type { Tenant } from "../core/tenant.ts";
import { fineTunedModelName, type JobsStore, jobError } from "../fine-tuning/jobs-store.ts";
import { KubeApiError, type KubeClient } from "../kube/client.ts";
import { type KubeObject, R } from "../kube/types.ts";
import {
  buildJobManifest,
  FINE_TUNE_LABEL,
  fineTuneResourceName,
  type JobPlacement,
  jobOutcome,
  namespaceFor,
} from "./job-manifest.ts";
import { recordProgress } from "./progress.ts";
import { publishFineTune } from "./register-adapter.ts";

export type K8sExecutorOptions = {
  kube: KubeClient;
  pool: pg.Pool;
  jobs: JobsStore;
  s3: S3Client;
  placement: JobPlacement;
  tenant(name: string): Tenant | undefined;
  /** A pod's log text (the container's progress lines); undefined when there is none yet. */
  podLog(namespace: string, pod: string): Promise<string | undefined>;
  pollMs: number;
  logger: Logger;
  /** Called after a fine-tune ends, so the dispatcher can fill the freed slot at once. */
  onFinished?(): void;
};

export type Executor = { run(task: { jobId: string; tenant: string }, signal: AbortSignal): Promise<void> };

export function createK8sExecutor(o: K8sExecutorOptions): Executor {
  const finished = () => o.onFinished?.();

  async function deleteJob(namespace: string, name: string) {
    await o.kube.delete(R.jobs, name, namespace, "Background");
  }

  async function lastRecordedStep(tenant: string, jobId: string): Promise<number> {
    const { rows } = await o.pool.query<{ step: number | null }>(
      `SELECT max((data->>'step')::int) AS step FROM fine_tune_events
       WHERE tenant = $1 AND job_id = $2 AND type = 'metrics'`,
      [tenant, jobId],
    );
    return rows[0]?.step ?? 0;
  }

  async function readProgress(
    namespace: string,
    jobName: string,
    tenant: string,
    jobId: string,
    model: string,
    last: number,
  ) {
    const pods = await o.kube.list<KubeObject>(R.pods, { namespace, labelSelector: `job-name=${jobName}` });
    let step = last;
    for (const pod of pods.items) {
      const text = await o.podLog(namespace, pod.metadata.name ?? "").catch(() => undefined);
      if (text === undefined) continue;
      step = await recordProgress(text, step, {
        event: (message, data) => o.jobs.addEvent(tenant, jobId, "info", message, data),
        checkpoint: (s, metrics) =>
          o.jobs.addCheckpoint(tenant, jobId, s, metrics, `${model}:ckpt-step-${s}`),
      });
    }
    return step;
  }

  async function succeed(tenant: Tenant, jobId: string) {
    const name = tenant.metadata.name;
    const job = await o.jobs.getJob(name, jobId);
    if (job?.status !== "running") return;
    const error = await publishFineTune(
      { s3: o.s3, pool: o.pool, jobs: o.jobs, bucket: o.placement.bucket },
      { tenant: name, jobId, model: job.model, suffix: job.user_provided_suffix },
    );
    if (error) await o.jobs.finishJob(name, jobId, { status: "failed", error });
  }

  async function run(task: { jobId: string; tenant: string }, signal: AbortSignal): Promise<void> {
    const { jobId } = task;
    const job = await o.jobs.getJob(task.tenant, jobId);
    if (!job) return;
    const tenant = o.tenant(task.tenant);
    const jobName = fineTuneResourceName(jobId);
    if (!tenant) {
      const error = jobError("tenant_not_found", `tenant '${task.tenant}' no longer exists`);
      await o.jobs.finishJob(task.tenant, jobId, { status: "failed", error });
      return finished();
    }
    const namespace = namespaceFor(tenant, o.placement.trainingNamespace);
    if (job.status === "queued" && !(await o.jobs.markRunning(task.tenant, jobId))) {
      await deleteJob(namespace, jobName); // cancelled before it started: make sure nothing runs
      return finished();
    }
    if (job.status !== "queued" && job.status !== "running") {
      if (job.status === "cancelled") await deleteJob(namespace, jobName);
      return finished();
    }
    try {
      await o.kube.create(R.jobs, buildJobManifest(tenant, job, o.placement));
      o.logger.info({ tenant: task.tenant, jobId, namespace, job: jobName }, "training Job created");
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      o.logger.info(
        { tenant: task.tenant, jobId, job: jobName },
        "training Job exists already; following it",
      );
    }
    const ftModel = fineTunedModelName(job.model, task.tenant, job.user_provided_suffix, jobId);
    let step = await lastRecordedStep(task.tenant, jobId);
    for (;;) {
      if (signal.aborted) throw new Error("trainer shutting down");
      const now = await o.jobs.getJob(task.tenant, jobId);
      if (now?.status !== "running") {
        if (now?.status === "cancelled") await deleteJob(namespace, jobName);
        return finished();
      }
      const k = await o.kube.get<KubeObject>(R.jobs, jobName, namespace);
      if (!k || k.metadata.labels?.[FINE_TUNE_LABEL] !== jobId) {
        const message = `the Kubernetes Job ${namespace}/${jobName} disappeared before it finished`;
        await o.jobs.finishJob(task.tenant, jobId, {
          status: "failed",
          error: jobError("job_lost", message),
        });
        return finished();
      }
      step = await readProgress(namespace, jobName, task.tenant, jobId, ftModel, step);
      const outcome = jobOutcome(k);
      if (outcome?.done === "complete") {
        await succeed(tenant, jobId);
        return finished();
      }
      if (outcome?.done === "failed") {
        const error = jobError("training_failed", `the training Job failed (${outcome.reason})`);
        await o.jobs.finishJob(task.tenant, jobId, { status: "failed", error });
        return finished();
      }
      await sleep(o.pollMs, signal);
    }
  }

  return { run };
}
