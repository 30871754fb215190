// Turns a finished training run's output into a servable adapter: the files at OUTPUT_URI are
// downloaded and checked the way the engine's loader would (core/peft.ts) before a version is
// registered, so a broken or foreign adapter never becomes a model a tenant can call.
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type pg from "pg";
import { CONFIG_FILE, checkAdapterDir, WEIGHTS_FILE } from "../core/peft.ts";
import { checkAdapterSource } from "../core/storage-layout.ts";
import { fineTunedModelName, type JobError, type JobsStore, jobError } from "../fine-tuning/jobs-store.ts";
import { ADAPTER_VERSION, fineTuneResourceName, outputUri } from "./job-manifest.ts";

const MAX_LORA_RANK = 64;

export type AdapterVersion = {
  tenant: string;
  /** The client-facing fine_tuned_model. */
  name: string;
  adapter: string;
  baseModel: string;
  source: string;
  version: number;
  jobId: string;
};

/** Verifies the adapter at `source`; returns its weights' sha256, or the reason it is unusable. */
async function verifyAdapter(
  s3: S3Client,
  bucket: string,
  tenant: string,
  source: string,
  baseModel: string,
): Promise<{ ok: true; sha256: string } | { ok: false; message: string }> {
  const gate = checkAdapterSource(source, tenant, bucket);
  if (!gate.ok) return { ok: false, message: gate.reason };
  const dir = await mkdtemp(join(tmpdir(), "loraplex-ft-verify-"));
  try {
    for (const file of [CONFIG_FILE, WEIGHTS_FILE]) {
      try {
        const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${gate.prefix}${file}` }));
        await pipeline(r.Body as Readable, createWriteStream(join(dir, file)));
      } catch (err) {
        if ((err as { name?: string }).name === "NoSuchKey")
          return { ok: false, message: `the training run wrote no ${file} to ${source}` };
        throw err; // S3 trouble is an infrastructure failure: the task is retried
      }
    }
    const check = await checkAdapterDir(dir, { baseModel, maxRank: MAX_LORA_RANK });
    if (!check.ok) return { ok: false, message: `the trained adapter is not loadable: ${check.message}` };
    return { ok: true, sha256: check.weightsSha256 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function registerAdapter(pool: pg.Pool, a: AdapterVersion, sha256: string): Promise<void> {
  await pool.query(
    `INSERT INTO fine_tuned_adapters (tenant, name, adapter, base_model, source, version, sha256, job_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant, name) DO NOTHING`,
    [a.tenant, a.name, a.adapter, a.baseModel, a.source, a.version, sha256, a.jobId],
  );
}

async function unregisterAdapter(pool: pg.Pool, tenant: string, name: string): Promise<void> {
  await pool.query("DELETE FROM fine_tuned_adapters WHERE tenant = $1 AND name = $2", [tenant, name]);
}

/**
 * The last step of every executor: verify the training output, register it as a servable
 * adapter version, then mark the fine-tune succeeded. Registered first, so a client that sees
 * fine_tuned_model can use it at once; removed again if the job was cancelled meanwhile.
 * Returns the error to fail the job with when the output is unusable.
 */
export async function publishFineTune(
  deps: { s3: S3Client; pool: pg.Pool; jobs: JobsStore; bucket: string },
  job: { tenant: string; jobId: string; model: string; suffix: string | null },
): Promise<JobError | undefined> {
  const source = outputUri(deps.bucket, job.tenant, job.jobId);
  const verdict = await verifyAdapter(deps.s3, deps.bucket, job.tenant, source, job.model);
  if (!verdict.ok) return jobError("invalid_adapter", verdict.message);
  const fineTunedModel = fineTunedModelName(job.model, job.tenant, job.suffix, job.jobId);
  const version: AdapterVersion = {
    tenant: job.tenant,
    name: fineTunedModel,
    adapter: fineTuneResourceName(job.jobId),
    baseModel: job.model,
    source,
    version: ADAPTER_VERSION,
    jobId: job.jobId,
  };
  await registerAdapter(deps.pool, version, verdict.sha256);
  if (!(await deps.jobs.finishJob(job.tenant, job.jobId, { status: "succeeded", fineTunedModel }))) {
    await unregisterAdapter(deps.pool, job.tenant, fineTunedModel);
  }
  return undefined;
}
