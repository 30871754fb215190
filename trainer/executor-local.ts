// Runs a fine-tune on this machine, for local mode (no Kubernetes): trainer/image/train.py as a
// child process of the trainer, with the same environment the Kubernetes Job's container gets
// (taken from buildJobManifest, so the two cannot drift) and S3 credentials from the service
// config. Without the Python environment the fine-tune fails and says how to install it: local
// mode never pretends to train. A task taken over after a crash trains again from the start.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { S3Client } from "@aws-sdk/client-s3";
import type pg from "pg";
import type { ServiceConfig } from "../core/config.ts";
import type { Logger } from "../core/log.ts";
import type { Tenant } from "../core/tenant.ts";
import { fineTunedModelName, type JobError, type JobsStore, jobError } from "../fine-tuning/jobs-store.ts";
import type { Executor } from "./executor-k8s.ts";
import { buildJobManifest } from "./job-manifest.ts";
import { recordProgress } from "./progress.ts";
import { publishFineTune } from "./register-adapter.ts";

const REPO = join(import.meta.dirname, "..");
export const DEFAULT_TRAINER_PYTHON = join(REPO, ".tools", "trainer-venv", "bin", "python");
const TRAIN_SCRIPT = join(REPO, "trainer", "image", "train.py");

export type LocalExecutorOptions = {
  pool: pg.Pool;
  jobs: JobsStore;
  s3: S3Client;
  cfg: Pick<
    ServiceConfig,
    "S3_ENDPOINT" | "S3_BUCKET" | "S3_REGION" | "S3_ACCESS_KEY_ID" | "S3_SECRET_ACCESS_KEY"
  >;
  /** The venv's python (scripts/trainer-env.sh installs it). */
  python: string;
  /** Base models as directories <dir>/<model name>; else transformers resolves the name itself. */
  baseModelsDir?: string;
  tenant(name: string): Tenant | undefined;
  /** How often a running fine-tune is checked for cancellation. */
  pollMs: number;
  logger: Logger;
  onFinished?(): void;
};

function venvMissingMessage(python: string): string {
  return (
    `local training is not enabled: no Python training environment at ${python}. ` +
    "Install it with `make trainer-selftest` (or `bash scripts/trainer-env.sh`), then submit the fine-tune again."
  );
}

export function createLocalExecutor(o: LocalExecutorOptions): Executor {
  const fail = (tenant: string, jobId: string, error: JobError) =>
    o.jobs.finishJob(tenant, jobId, { status: "failed", error });

  function trainingEnv(tenant: Tenant, job: NonNullable<Awaited<ReturnType<JobsStore["getJob"]>>>) {
    const manifest = buildJobManifest(tenant, job, {
      image: "local",
      trainingNamespace: "local",
      gpus: 0,
      nodeSelector: {},
      activeDeadlineSeconds: 1,
      ttlSecondsAfterFinished: 0,
      bucket: o.cfg.S3_BUCKET,
      s3SecretName: () => "local",
    });
    const spec = manifest.spec as {
      template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
    };
    const env: Record<string, string> = Object.fromEntries(
      spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]),
    );
    if (o.baseModelsDir) env.BASE_MODEL_PATH = join(o.baseModelsDir, job.model);
    return {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      ...env,
      S3_ENDPOINT: o.cfg.S3_ENDPOINT,
      AWS_REGION: o.cfg.S3_REGION,
      AWS_ACCESS_KEY_ID: o.cfg.S3_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: o.cfg.S3_SECRET_ACCESS_KEY,
    };
  }

  /** Runs train.py to its end; resolves to undefined on success, else the failure's message. */
  function train(
    tenant: string,
    jobId: string,
    ftModel: string,
    env: Record<string, string>,
    signal: AbortSignal,
  ) {
    let step = 0;
    const child: ChildProcess = spawn(o.python, [TRAIN_SCRIPT], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderrTail = "";
    let errorLine: string | undefined;
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      stderrTail = (stderrTail + s).slice(-2_000);
      const m = /LORAPLEX_ERROR (.*)/.exec(s);
      if (m) errorLine = m[1];
    });
    // Lines are recorded one after another, so steps stay in order and each is stored once.
    let recording = Promise.resolve();
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      recording = recording
        .then(async () => {
          step = await recordProgress(line, step, {
            event: (message, data) => o.jobs.addEvent(tenant, jobId, "info", message, data),
            checkpoint: (s, metrics) =>
              o.jobs.addCheckpoint(tenant, jobId, s, metrics, `${ftModel}:ckpt-step-${s}`),
          });
        })
        .catch((err: Error) => o.logger.warn({ jobId, err: err.message }, "progress not recorded"));
    });
    const kill = () => child.kill("SIGTERM");
    signal.addEventListener("abort", kill, { once: true });
    return new Promise<string | undefined>((resolve, reject) => {
      child.once("error", (err) => reject(err));
      child.once("close", async (code, sig) => {
        signal.removeEventListener("abort", kill);
        await recording;
        if (code === 0) return resolve(undefined);
        const why = errorLine ?? (stderrTail.trim().split("\n").slice(-3).join(" | ") || "no output");
        resolve(`train.py exited with ${code ?? sig}: ${why}`);
      });
    });
  }

  async function succeed(tenant: string, jobId: string, model: string, suffix: string | null) {
    const error = await publishFineTune(
      { s3: o.s3, pool: o.pool, jobs: o.jobs, bucket: o.cfg.S3_BUCKET },
      { tenant, jobId, model, suffix },
    );
    if (error) await fail(tenant, jobId, error);
  }

  async function run(task: { jobId: string; tenant: string }, signal: AbortSignal): Promise<void> {
    const { jobId, tenant: name } = task;
    const finished = () => o.onFinished?.();
    const job = await o.jobs.getJob(name, jobId);
    if (!job || (job.status !== "queued" && job.status !== "running")) return finished();
    const tenant = o.tenant(name);
    if (!tenant) {
      await fail(name, jobId, jobError("tenant_not_found", `tenant '${name}' no longer exists`));
      return finished();
    }
    if (job.status === "queued" && !(await o.jobs.markRunning(name, jobId))) return finished();
    if (!existsSync(o.python)) {
      await fail(name, jobId, jobError("training_unavailable", venvMissingMessage(o.python)));
      return finished();
    }
    // Cancellation lives in Postgres: a cancelled fine-tune stops its child process.
    const stop = new AbortController();
    const onShutdown = () => stop.abort();
    signal.addEventListener("abort", onShutdown, { once: true });
    const watch = setInterval(() => {
      void o.jobs
        .getJob(name, jobId)
        .then((now) => now?.status !== "running" && stop.abort())
        .catch(() => {});
    }, o.pollMs);
    try {
      o.logger.info({ tenant: name, jobId, python: o.python }, "local training started");
      const ftModel = fineTunedModelName(job.model, name, job.user_provided_suffix, jobId);
      const failure = await train(name, jobId, ftModel, trainingEnv(tenant, job), stop.signal);
      if (signal.aborted) throw new Error("trainer shutting down");
      const now = await o.jobs.getJob(name, jobId);
      if (now?.status !== "running") return finished();
      if (failure) await fail(name, jobId, jobError("training_failed", failure));
      else await succeed(name, jobId, job.model, job.user_provided_suffix);
      return finished();
    } finally {
      clearInterval(watch);
      signal.removeEventListener("abort", onShutdown);
    }
  }

  return { run };
}
