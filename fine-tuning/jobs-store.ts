// Fine-tuning jobs, events and checkpoints in Postgres, shaped as OpenAI's objects. The router
// (API) and the trainer (lifecycle) share this file. Tenant-facing reads run under row-level
// security (withTenant) with an explicit tenant filter too: another tenant's id is not found.
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { withTenant } from "../metering/tenant-db.ts";

export type Hyperparameters = {
  n_epochs: number;
  batch_size: number;
  learning_rate_multiplier: number;
  /** Loraplex extension: the LoRA's rank and alpha. */
  lora_rank: number;
  lora_alpha: number;
};

export type NewJob = {
  model: string;
  training_file: string;
  validation_file: string | null;
  suffix: string | null;
  seed: number;
  hyperparameters: Hyperparameters;
};

export type JobStatus = "validating_files" | "queued" | "running" | "succeeded" | "failed" | "cancelled";
export const ACTIVE_STATUSES: JobStatus[] = ["validating_files", "queued", "running"];

/** Why a fine-tune failed, as the job's `error.code` tells the tenant (a closed set, like OpenAIErrorCode). */
export type JobErrorCode =
  | "training_failed"
  | "training_unavailable"
  | "invalid_adapter"
  | "tenant_not_found"
  | "infrastructure_error"
  | "job_lost";
export type JobError = { code: JobErrorCode; message: string; param: string | null };
export const jobError = (code: JobErrorCode, message: string): JobError => ({ code, message, param: null });

type JobRow = NewJob & {
  id: string;
  tenant: string;
  status: JobStatus;
  fine_tuned_model: string | null;
  error: JobError | null;
  trained_tokens: string | null;
  created_at: Date;
  finished_at: Date | null;
};

const secs = (d: Date | null) => (d === null ? null : Math.floor(d.getTime() / 1000));
const id = (prefix: string) => `${prefix}-${randomBytes(12).toString("hex")}`;

export function toJobObject(r: JobRow) {
  return {
    id: r.id,
    object: "fine_tuning.job" as const,
    created_at: secs(r.created_at),
    error: r.error,
    fine_tuned_model: r.fine_tuned_model,
    finished_at: secs(r.finished_at),
    hyperparameters: r.hyperparameters,
    model: r.model,
    organization_id: r.tenant,
    result_files: [],
    seed: r.seed,
    status: r.status,
    trained_tokens: r.trained_tokens === null ? null : Number(r.trained_tokens),
    training_file: r.training_file,
    validation_file: r.validation_file,
    user_provided_suffix: r.suffix,
    estimated_finish: null,
    integrations: null,
    metadata: null,
    method: { type: "supervised" as const, supervised: { hyperparameters: r.hyperparameters } },
  };
}
export type JobObject = ReturnType<typeof toJobObject>;

/** OpenAI's naming, `ft:<base>:<org>:<suffix>:<id>`, with the tenant as the organisation. */
export function fineTunedModelName(
  base: string,
  tenant: string,
  suffix: string | null,
  jobId: string,
): string {
  return `ft:${base}:${tenant}:${suffix ?? ""}:${jobId.replace(/^ftjob-/, "")}`;
}

const JOB_COLUMNS = `id, tenant, model, training_file, validation_file, suffix, seed, hyperparameters,
  status, fine_tuned_model, error, trained_tokens, created_at, finished_at`;

export type Page<T> = { object: "list"; data: T[]; has_more: boolean };

export function createJobsStore(pool: pg.Pool) {
  const read = <T>(tenant: string, run: (c: pg.PoolClient) => Promise<T>) => withTenant(pool, tenant, run);

  async function getJob(tenant: string, jobId: string): Promise<JobObject | undefined> {
    return read(tenant, async (c) => {
      const { rows } = await c.query<JobRow>(
        `SELECT ${JOB_COLUMNS} FROM fine_tune_jobs WHERE tenant = $1 AND id = $2`,
        [tenant, jobId],
      );
      return rows[0] ? toJobObject(rows[0]) : undefined;
    });
  }

  /** A page of a job's child rows (events or checkpoints), newest first; undefined: no such job. */
  async function childPage<T>(
    table: "fine_tune_events" | "fine_tune_checkpoints",
    columns: string,
    tenant: string,
    jobId: string,
    q: { after?: string; limit: number },
    map: (row: Record<string, unknown>) => T,
  ): Promise<Page<T> | undefined> {
    return read(tenant, async (c) => {
      const job = await c.query("SELECT 1 FROM fine_tune_jobs WHERE tenant = $1 AND id = $2", [
        tenant,
        jobId,
      ]);
      if (job.rowCount === 0) return undefined;
      const params: unknown[] = [tenant, jobId, q.limit + 1];
      let where = "tenant = $1 AND job_id = $2";
      if (q.after !== undefined) {
        params.push(q.after);
        where += ` AND seq < (SELECT seq FROM ${table} WHERE tenant = $1 AND id = $4)`;
      }
      const { rows } = await c.query(
        `SELECT ${columns} FROM ${table} WHERE ${where} ORDER BY seq DESC LIMIT $3`,
        params,
      );
      return { object: "list", data: rows.slice(0, q.limit).map(map), has_more: rows.length > q.limit };
    });
  }

  return {
    getJob,

    /** Inserts a job whose files were validated, with the events OpenAI shows for those steps. */
    async createJob(tenant: string, job: NewJob): Promise<JobObject> {
      const jobId = id("ftjob");
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const { rows } = await client.query<JobRow>(
          `INSERT INTO fine_tune_jobs (id, tenant, model, training_file, validation_file, suffix, seed,
             hyperparameters, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued') RETURNING ${JOB_COLUMNS}`,
          [
            jobId,
            tenant,
            job.model,
            job.training_file,
            job.validation_file,
            job.suffix,
            job.seed,
            job.hyperparameters,
          ],
        );
        await insertEvent(client, jobId, tenant, "info", `Validating training file: ${job.training_file}`);
        await insertEvent(client, jobId, tenant, "info", "Files validated, moving job to queued state");
        await client.query("COMMIT");
        return toJobObject(rows[0]!);
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },

    async listJobs(tenant: string, q: { after?: string; limit: number }): Promise<Page<JobObject>> {
      return read(tenant, async (c) => {
        const params: unknown[] = [tenant, q.limit + 1];
        let where = "tenant = $1";
        if (q.after !== undefined) {
          params.push(q.after);
          where += " AND seq < (SELECT seq FROM fine_tune_jobs WHERE tenant = $1 AND id = $3)";
        }
        const { rows } = await c.query<JobRow>(
          `SELECT ${JOB_COLUMNS} FROM fine_tune_jobs WHERE ${where} ORDER BY seq DESC LIMIT $2`,
          params,
        );
        return {
          object: "list",
          data: rows.slice(0, q.limit).map(toJobObject),
          has_more: rows.length > q.limit,
        };
      });
    },

    /** Jobs of the tenant that are not finished yet (the 429 cap on submissions). */
    async countActive(tenant: string): Promise<number> {
      const { rows } = await pool.query<{ n: string }>(
        "SELECT count(*) AS n FROM fine_tune_jobs WHERE tenant = $1 AND status = ANY($2)",
        [tenant, ACTIVE_STATUSES],
      );
      return Number(rows[0]!.n);
    },

    /** Cancels an unfinished job: the job, or 'finished' when it already ended, or undefined. */
    async cancelJob(tenant: string, jobId: string): Promise<JobObject | "finished" | undefined> {
      const { rows } = await pool.query<JobRow>(
        `UPDATE fine_tune_jobs SET status = 'cancelled', finished_at = now()
         WHERE tenant = $1 AND id = $2 AND status = ANY($3) RETURNING ${JOB_COLUMNS}`,
        [tenant, jobId, ACTIVE_STATUSES],
      );
      if (rows[0]) {
        await insertEvent(pool, jobId, tenant, "info", "Fine-tuning job cancelled");
        return toJobObject(rows[0]);
      }
      return (await getJob(tenant, jobId)) ? "finished" : undefined;
    },

    listEvents: (tenant: string, jobId: string, q: { after?: string; limit: number }) =>
      childPage("fine_tune_events", "id, level, type, message, data, created_at", tenant, jobId, q, (r) => ({
        id: r.id as string,
        object: "fine_tuning.job.event" as const,
        created_at: secs(r.created_at as Date),
        level: r.level as string,
        message: r.message as string,
        type: r.type as string,
        data: (r.data as object | null) ?? {},
      })),

    listCheckpoints: (tenant: string, jobId: string, q: { after?: string; limit: number }) =>
      childPage(
        "fine_tune_checkpoints",
        "id, step_number, metrics, fine_tuned_model_checkpoint, created_at",
        tenant,
        jobId,
        q,
        (r) => ({
          id: r.id as string,
          object: "fine_tuning.job.checkpoint" as const,
          created_at: secs(r.created_at as Date),
          fine_tuned_model_checkpoint: r.fine_tuned_model_checkpoint as string,
          fine_tuning_job_id: jobId,
          metrics: r.metrics as object,
          step_number: r.step_number as number,
        }),
      ),

    addEvent: (
      tenant: string,
      jobId: string,
      level: "info" | "warn" | "error",
      message: string,
      data?: object,
    ) => insertEvent(pool, jobId, tenant, level, message, data),

    /** Trainer side: the job's executor started; false when it was cancelled meanwhile. */
    async markRunning(tenant: string, jobId: string): Promise<boolean> {
      const { rowCount } = await pool.query(
        "UPDATE fine_tune_jobs SET status = 'running' WHERE tenant = $1 AND id = $2 AND status = 'queued'",
        [tenant, jobId],
      );
      if (rowCount) await insertEvent(pool, jobId, tenant, "info", "Fine-tuning job started");
      return Boolean(rowCount);
    },

    /** Trainer side: ends an unfinished job; false when it had already ended (e.g. cancelled). */
    async finishJob(
      tenant: string,
      jobId: string,
      result:
        | { status: "succeeded"; fineTunedModel: string; trainedTokens?: number }
        | { status: "failed"; error: JobError },
    ): Promise<boolean> {
      const ok = result.status === "succeeded";
      const { rowCount } = await pool.query(
        `UPDATE fine_tune_jobs SET status = $3, fine_tuned_model = $4, error = $5, trained_tokens = $6,
           finished_at = now()
         WHERE tenant = $1 AND id = $2 AND status = ANY($7)`,
        [
          tenant,
          jobId,
          result.status,
          ok ? result.fineTunedModel : null,
          ok ? null : result.error,
          ok ? (result.trainedTokens ?? null) : null,
          ACTIVE_STATUSES,
        ],
      );
      if (rowCount) {
        const message = ok ? "The job has successfully completed" : `The job failed: ${result.error.message}`;
        await insertEvent(pool, jobId, tenant, ok ? "info" : "error", message);
      }
      return Boolean(rowCount);
    },

    /** Records a checkpoint the training container reported (trainer side). */
    async addCheckpoint(tenant: string, jobId: string, step: number, metrics: object, model: string) {
      await pool.query(
        `INSERT INTO fine_tune_checkpoints (id, job_id, tenant, step_number, metrics, fine_tuned_model_checkpoint)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [id("ftckpt"), jobId, tenant, step, metrics, model],
      );
    },
  };
}
export type JobsStore = ReturnType<typeof createJobsStore>;

async function insertEvent(
  db: pg.Pool | pg.PoolClient,
  jobId: string,
  tenant: string,
  level: string,
  message: string,
  data?: object,
): Promise<void> {
  await db.query(
    `INSERT INTO fine_tune_events (id, job_id, tenant, level, type, message, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [id("ftevent"), jobId, tenant, level, data ? "metrics" : "message", message, data ?? null],
  );
}
