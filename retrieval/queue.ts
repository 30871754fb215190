// The ingestion queue (BullMQ on the shared Redis). Attaching a file adds a task; a Worker in
// every router process takes tasks (router/vector-stores/setup.ts says why the router runs it)
// and calls ingestFile. Infrastructure failures (engine down, S3 or Postgres errors) are retried
// with exponential backoff; when the last attempt fails the file becomes `failed` with
// last_error server_error, so no file stays in_progress for ever.
import { type Job, Queue, Worker } from "bullmq";
import type { Logger } from "../core/log.ts";
import { bullConnection } from "../core/redis.ts";
import { type IngestDeps, type IngestTask, ingestFile, markFailed } from "./ingest.ts";

const INGEST_QUEUE = "vector-store-files";

export type IngestQueueOptions = {
  redisUrl: string;
  /** BullMQ key prefix: one per schema, so installs and test suites sharing a Redis stay apart. */
  prefix: string;
  attempts?: number;
  backoffMs?: number;
  concurrency?: number;
  logger: Logger;
};

export type IngestQueue = {
  add(tasks: IngestTask[]): Promise<void>;
  close(): Promise<void>;
};

export function createIngestQueue(o: IngestQueueOptions): IngestQueue {
  const queue = new Queue<IngestTask>(INGEST_QUEUE, {
    connection: bullConnection(o.redisUrl),
    prefix: o.prefix,
  });
  queue.on("error", (err) => o.logger.warn({ err: err.message }, "ingestion queue error"));
  return {
    async add(tasks) {
      if (tasks.length === 0) return;
      await queue.addBulk(
        tasks.map((data) => ({
          name: "ingest",
          data,
          opts: {
            attempts: o.attempts ?? 4,
            backoff: { type: "exponential", delay: o.backoffMs ?? 2_000 },
            removeOnComplete: 1000,
            removeOnFail: 1000,
          },
        })),
      );
    },
    async close() {
      await queue.close();
    },
  };
}

export function startIngestWorker(o: IngestQueueOptions & { deps: IngestDeps }): { close(): Promise<void> } {
  const worker = new Worker<IngestTask>(
    INGEST_QUEUE,
    async (job: Job<IngestTask>) => {
      const result = await ingestFile(o.deps, job.data);
      o.logger.info({ ...job.data, result }, "vector store file ingested");
    },
    { connection: bullConnection(o.redisUrl), prefix: o.prefix, concurrency: o.concurrency ?? 2 },
  );
  worker.on("error", (err) => o.logger.error({ err: err.message }, "ingestion worker error"));
  worker.on("failed", (job, err) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    o.logger.warn(
      { ...job.data, attempt: job.attemptsMade, err: err.message },
      "vector store file ingestion failed",
    );
    if (job.attemptsMade < attempts) return;
    const message = `The file could not be processed after ${attempts} attempts: ${err.message}`.slice(
      0,
      1000,
    );
    markFailed(o.deps.pool, job.data, { code: "server_error", message }).catch((e: Error) =>
      o.logger.error({ err: e.message }, "cannot mark the vector store file failed"),
    );
  });
  return {
    async close() {
      await worker.close();
    },
  };
}
