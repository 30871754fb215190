// The files and fine-tuning APIs as the express routers createRouter mounts. Limits from the
// environment: LORAPLEX_MAX_FILE_BYTES (largest upload, default 32 MiB) and
// LORAPLEX_MAX_ACTIVE_FINE_TUNES (unfinished jobs per tenant before a 429, default 500) and
// LORAPLEX_MAX_CONCURRENT_UPLOADS (uploads in progress per tenant and router, default 2).
import type pg from "pg";
import type { ServiceConfig } from "../../core/config.ts";
import { createS3Client } from "../../core/s3.ts";
import { createJobsStore } from "../../fine-tuning/jobs-store.ts";
import { type Caller, createFilesApi } from "../files/files-api.ts";
import { createFilesStore } from "../files/files-store.ts";
import { createJobsApi } from "./jobs-api.ts";

export function createTrainingApis(deps: {
  pool: pg.Pool;
  cfg: ServiceConfig;
  authenticate(authorization: string | undefined, source?: string): Promise<Caller>;
  env?: NodeJS.ProcessEnv;
  /** Each authenticated upload's answer (for the router's request counter). */
  onUpload?(tenant: string, status: number, ms: number): void;
}) {
  const env = deps.env ?? process.env;
  const s3 = createS3Client(deps.cfg);
  const files = createFilesStore({ pool: deps.pool, s3, bucket: deps.cfg.S3_BUCKET });
  const jobs = createJobsStore(deps.pool);
  return {
    routers: [
      createFilesApi({
        store: files,
        authenticate: deps.authenticate,
        maxFileBytes: positiveInt(env, "LORAPLEX_MAX_FILE_BYTES"),
        maxConcurrentUploads: positiveInt(env, "LORAPLEX_MAX_CONCURRENT_UPLOADS"),
        onUpload: deps.onUpload,
      }),
      createJobsApi({
        jobs,
        files,
        authenticate: deps.authenticate,
        maxActiveJobsPerTenant: positiveInt(env, "LORAPLEX_MAX_ACTIVE_FINE_TUNES"),
      }),
    ],
    close: async () => s3.destroy(),
  };
}

function positiveInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not '${v}'`);
  return n;
}
