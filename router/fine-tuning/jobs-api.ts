// The OpenAI-compatible fine-tuning API (tenant key): create, list, retrieve, cancel, events and
// checkpoints. Creating a job checks the tenant may fine-tune the base model and that the files
// are this tenant's own fine-tune files, then stores it as queued; the trainer's dispatcher
// (trainer/queue.ts) takes it from there. Every query is scoped to the caller's tenant.
import express, { type Router } from "express";
import { ApiError } from "../../core/errors.ts";
import { ACTIVE_STATUSES, type JobsStore } from "../../fine-tuning/jobs-store.ts";
import { type Caller, idParam, intParam, tenantRoute } from "../files/files-api.ts";
import type { FilesStore } from "../files/files-store.ts";
import { parseJobRequest } from "./validate-job.ts";

/** Unfinished jobs one tenant may hold; beyond this a submission is a 429. */
const DEFAULT_MAX_ACTIVE_JOBS = 500;

export type JobsApiDeps = {
  jobs: JobsStore;
  files: Pick<FilesStore, "get">;
  authenticate(authorization: string | undefined, source?: string): Promise<Caller>;
  maxActiveJobsPerTenant?: number;
};

/** Ids the jobs store makes (fine-tuning/jobs-store.ts); nothing else can exist. */
const JOB_ID = /^ftjob-[0-9a-f]{24}$/;
const CHILD_ID = /^[A-Za-z0-9_-]{1,100}$/;

const jobNotFound = (id: string) =>
  new ApiError(404, `Fine-tuning job ${id.slice(0, 100)} not found.`, {
    code: "fine_tuning_job_not_found",
    param: "fine_tuning_job_id",
  });

export function createJobsApi(deps: JobsApiDeps): Router {
  const r = express.Router();
  const route = (h: Parameters<typeof tenantRoute>[1]) => tenantRoute(deps.authenticate, h);
  const maxActive = deps.maxActiveJobsPerTenant ?? DEFAULT_MAX_ACTIVE_JOBS;
  const page = (q: Record<string, unknown>, after: RegExp) => ({
    limit: intParam(q.limit, "limit", 1, 100, 20),
    after: idParam(q.after, "after", after),
  });

  r.post(
    "/v1/fine_tuning/jobs",
    express.json({ limit: "64kb" }),
    route(async (caller, req, res) => {
      const tenant = caller.tenant.metadata.name;
      if (caller.tenant.spec.limits?.maxConcurrentFineTunes === 0) {
        throw new ApiError(403, "Fine-tuning is not enabled for this tenant.", {
          code: "fine_tuning_disabled",
        });
      }
      const job = parseJobRequest(caller.tenant, req.body);
      for (const [param, fileId] of [
        ["training_file", job.training_file],
        ["validation_file", job.validation_file],
      ] as const) {
        if (fileId === null) continue;
        // Another tenant's file is indistinguishable from one that does not exist.
        const f = await deps.files.get(tenant, fileId);
        if (!f) throw new ApiError(400, `File ${fileId} not found.`, { code: "invalid_file", param });
        if (f.purpose !== "fine-tune") {
          throw new ApiError(400, `File ${fileId} has purpose '${f.purpose}', not 'fine-tune'.`, {
            code: "invalid_file",
            param,
          });
        }
      }
      if ((await deps.jobs.countActive(tenant)) >= maxActive) {
        throw new ApiError(
          429,
          `This tenant already has ${maxActive} unfinished fine-tuning jobs (${ACTIVE_STATUSES.join(", ")}).`,
          {
            code: "too_many_active_jobs",
          },
        );
      }
      res.json(await deps.jobs.createJob(tenant, job));
    }),
  );

  r.get(
    "/v1/fine_tuning/jobs",
    route(async (caller, req, res) => {
      res.json(
        await deps.jobs.listJobs(
          caller.tenant.metadata.name,
          page(req.query as Record<string, unknown>, JOB_ID),
        ),
      );
    }),
  );

  r.get(
    "/v1/fine_tuning/jobs/:id",
    route(async (caller, req, res) => {
      const id = String(req.params.id);
      const job = JOB_ID.test(id) ? await deps.jobs.getJob(caller.tenant.metadata.name, id) : undefined;
      if (!job) throw jobNotFound(id);
      res.json(job);
    }),
  );

  r.post(
    "/v1/fine_tuning/jobs/:id/cancel",
    route(async (caller, req, res) => {
      const id = String(req.params.id);
      const out = JOB_ID.test(id) ? await deps.jobs.cancelJob(caller.tenant.metadata.name, id) : undefined;
      if (out === undefined) throw jobNotFound(id);
      if (out === "finished") {
        throw new ApiError(400, `Job ${id} has already finished and cannot be cancelled.`, {
          code: "job_finished",
          param: "fine_tuning_job_id",
        });
      }
      res.json(out);
    }),
  );

  for (const [path, list] of [
    ["events", deps.jobs.listEvents],
    ["checkpoints", deps.jobs.listCheckpoints],
  ] as const) {
    r.get(
      `/v1/fine_tuning/jobs/:id/${path}`,
      route(async (caller, req, res) => {
        const id = String(req.params.id);
        const q = page(req.query as Record<string, unknown>, CHILD_ID);
        const out = JOB_ID.test(id) ? await list(caller.tenant.metadata.name, id, q) : undefined;
        if (!out) throw jobNotFound(id);
        res.json(out);
      }),
    );
  }
  return r;
}
