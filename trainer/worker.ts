// The trainer's loop: the fair dispatcher moves waiting fine-tunes to BullMQ as slots free up,
// and a BullMQ Worker hands each task to the executor. BullMQ's locks make a task run on one
// worker at a time; when a worker dies its lock lapses and another worker takes the task over
// as stalled — safe because the executor is idempotent (see executor-k8s.ts).
import { type Job, Worker } from "bullmq";
import type { Logger } from "../core/log.ts";
import { type JobsStore, jobError } from "../fine-tuning/jobs-store.ts";
import type { Executor } from "./executor-k8s.ts";
import { bullConnection, type Dispatcher, type FineTuneTask, QUEUE_NAME } from "./queue.ts";

export type TrainerWorkerOptions = {
  dispatcher: Dispatcher;
  executor: Executor;
  jobs: JobsStore;
  redisUrl: string;
  prefix?: string;
  /** Tasks this worker follows at once (each is mostly waiting on its Kubernetes Job). */
  concurrency: number;
  dispatchIntervalMs: number;
  /** How long a dead worker's task waits before another worker takes it over. */
  lockDurationMs?: number;
  logger: Logger;
  /**
   * After a task is done with (both executors, and a fine-tune failed for good here): meters it
   * if it ended (trainer/metering.ts; a repeat records nothing). Never throws into the worker.
   */
  onEnded?(task: FineTuneTask): Promise<unknown>;
};

export type TrainerWorker = { wake(): void; close(): Promise<void> };

export function startTrainerWorker(o: TrainerWorkerOptions): TrainerWorker {
  const stopping = new AbortController();
  const worker = new Worker<FineTuneTask, void, string>(
    QUEUE_NAME,
    async (task: Job<FineTuneTask, void, string>) => {
      await o.executor.run(task.data, stopping.signal);
      await ended(task.data);
    },
    {
      connection: bullConnection(o.redisUrl),
      prefix: o.prefix,
      concurrency: o.concurrency,
      lockDuration: o.lockDurationMs ?? 30_000,
      // Checked as often as a lock lapses, so a dead worker's task waits about two lock periods.
      stalledInterval: o.lockDurationMs ?? 30_000,
      // A task may be taken over many times (each time a worker dies): the executor picks up
      // where the last one stopped, so there is no reason to give up on it.
      maxStalledCount: 100,
    },
  );
  worker.on("error", (err) => o.logger.error({ err: err.message }, "BullMQ worker error"));
  worker.on("failed", (task, err) => {
    if (!task) return;
    const attempts = task.opts.attempts ?? 1;
    o.logger.warn(
      { jobId: task.data.jobId, attempt: task.attemptsMade, err: err.message },
      "fine-tune task failed",
    );
    if (task.attemptsMade < attempts || stopping.signal.aborted) return;
    // Retries are spent: the infrastructure kept failing, so the fine-tune fails with that reason.
    const error = jobError("infrastructure_error", `training could not run: ${err.message}`);
    void o.jobs
      .finishJob(task.data.tenant, task.data.jobId, { status: "failed", error })
      .then(() => ended(task.data))
      .then(() => wake())
      .catch((e: Error) => o.logger.error({ err: e.message }, "cannot mark the fine-tune failed"));
  });

  async function ended(task: FineTuneTask): Promise<void> {
    await o
      .onEnded?.(task)
      .catch((err: Error) =>
        o.logger.error({ jobId: task.jobId, err: err.message }, "fine-tune usage not recorded"),
      );
  }

  let running: Promise<void> | undefined;
  let again = false;
  const dispatch = async () => {
    try {
      const ids = await o.dispatcher.dispatchOnce();
      if (ids.length > 0) o.logger.info({ jobs: ids }, "fine-tunes dispatched");
    } catch (err) {
      o.logger.error({ err: (err as Error).message }, "dispatch failed");
    }
  };
  // One dispatch at a time; a wake during one causes exactly one more.
  function wake() {
    if (stopping.signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    running = dispatch().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        wake();
      }
    });
  }
  const timer = setInterval(wake, o.dispatchIntervalMs);
  wake();

  return {
    wake,
    async close() {
      stopping.abort();
      clearInterval(timer);
      await running;
      await worker.close();
    },
  };
}
