// `loraplex train-sim`: the training SIMULATOR. It stands in for the GPU training image
// (trainer/image/train.py) where there is no GPU or torch — test clusters, the e2e tests — and
// keeps that image's whole contract, so the trainer cannot tell them apart: the same environment
// (trainer/job-manifest.ts), the training file read from S3, one `LORAPLEX_PROGRESS` line per
// simulated optimizer step on stdout, and a valid PEFT LoRA adapter (adapter_config.json +
// adapter_model.safetensors, tensors shaped for the base model when it is a known one) written
// to OUTPUT_URI; a failure exits 1 with `LORAPLEX_ERROR <message>` on stderr. Nothing is
// learned: the weights are deterministic bytes from the fine-tune id, the seed and the data.
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { loadServiceConfig } from "../core/config.ts";
import { intFlag } from "../core/flags.ts";
import { CONFIG_FILE, generateAdapter, WEIGHTS_FILE } from "../core/peft.ts";
import { createS3Client, parseS3Uri } from "../core/s3.ts";
import { sleep } from "../core/sleep.ts";
import { baseModelGeometry, projectionDims } from "./base-model-geometry.ts";
import { formatProgressLine } from "./progress.ts";

const USAGE = `usage: loraplex train-sim [--step-ms N]

The training SIMULATOR (no GPU, nothing learned): reads the training Job's environment
(FINE_TUNE_ID, BASE_MODEL, TRAINING_FILE_URI, OUTPUT_URI, N_EPOCHS, BATCH_SIZE, LORA_RANK,
LORA_ALPHA, SEED; S3_ENDPOINT and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION from the
tenant's Secret), prints a LORAPLEX_PROGRESS line per simulated step and writes a valid PEFT
LoRA adapter to OUTPUT_URI.

  --step-ms N   time per simulated step (default 200), so progress can be watched while it runs`;

class SimError extends Error {}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name]?.trim();
  if (!v) throw new SimError(`environment variable ${name} is required`);
  return v;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string): number {
  const v = Number(required(env, name));
  if (!Number.isInteger(v) || v < 1) throw new SimError(`${name} must be an integer ≥ 1, got '${env[name]}'`);
  return v;
}

function s3Location(env: NodeJS.ProcessEnv, name: string): { bucket: string; key: string } {
  const loc = parseS3Uri(required(env, name));
  if (!loc) throw new SimError(`${name} must be an s3:// URI, got '${env[name]}'`);
  return loc;
}

/** The Job's S3 settings: the tenant Secret's AWS_* names first, else the service's S3_* ones. */
function s3Client(env: NodeJS.ProcessEnv): S3Client {
  return createS3Client(
    loadServiceConfig({
      ...env,
      S3_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID ?? env.S3_ACCESS_KEY_ID,
      S3_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY ?? env.S3_SECRET_ACCESS_KEY,
      S3_REGION: env.AWS_REGION ?? env.S3_REGION,
    }),
  );
}

/** A loss curve that falls like a real run's, deterministic per fine-tune. */
function lossAt(step: number, total: number, seed: Buffer): number {
  const start = 2.2 + seed[0]! / 255;
  const noise = (seed[step % seed.length]! / 255 - 0.5) * 0.04;
  return Number((start * (0.35 + 0.65 * Math.exp((-3 * step) / total)) + noise).toFixed(4));
}

async function simulate(env: NodeJS.ProcessEnv, stepMs: number): Promise<void> {
  const id = required(env, "FINE_TUNE_ID");
  const baseModel = required(env, "BASE_MODEL");
  const training = s3Location(env, "TRAINING_FILE_URI");
  const output = s3Location(env, "OUTPUT_URI");
  const epochs = positiveInt(env, "N_EPOCHS");
  const batch = positiveInt(env, "BATCH_SIZE");
  const rank = positiveInt(env, "LORA_RANK");
  const alpha = positiveInt(env, "LORA_ALPHA");
  const s3 = s3Client(env);
  try {
    let data: Uint8Array;
    try {
      const obj = await s3.send(new GetObjectCommand({ Bucket: training.bucket, Key: training.key }));
      data = await obj.Body!.transformToByteArray();
    } catch (err) {
      throw new SimError(`cannot read TRAINING_FILE_URI: ${(err as Error).message}`);
    }
    const examples = Buffer.from(data)
      .toString("utf8")
      .split("\n")
      .filter((l) => l.trim() !== "").length;
    if (examples === 0) throw new SimError("the training file holds no examples");
    const perEpoch = Math.ceil(examples / batch);
    const total = perEpoch * epochs;
    const seed = createHash("sha256")
      .update(`${id}\0${env.SEED ?? ""}`)
      .update(data)
      .digest();
    console.log(
      `train-sim: SIMULATED training of ${baseModel}: ${examples} example(s), ${epochs} epoch(s), batch ${batch} → ${total} step(s)`,
    );
    for (let step = 1; step <= total; step++) {
      await sleep(stepMs);
      const epoch = Number((step / perEpoch).toFixed(3));
      console.log(formatProgressLine({ step, loss: lossAt(step, total, seed), epoch, checkpoint: false }));
    }
    const geometry = baseModelGeometry(baseModel);
    const { config, weights } = generateAdapter({
      baseModel,
      rank,
      loraAlpha: alpha,
      seed: seed.toString("hex"),
      ...(geometry ? { layers: geometry.layers, moduleDims: projectionDims(geometry) } : {}),
    });
    const prefix = output.key.endsWith("/") ? output.key : `${output.key}/`;
    try {
      await s3.send(
        new PutObjectCommand({ Bucket: output.bucket, Key: `${prefix}${WEIGHTS_FILE}`, Body: weights }),
      );
      await s3.send(
        new PutObjectCommand({
          Bucket: output.bucket,
          Key: `${prefix}${CONFIG_FILE}`,
          Body: `${JSON.stringify(config, null, 2)}\n`,
        }),
      );
    } catch (err) {
      throw new SimError(`cannot write the adapter to OUTPUT_URI: ${(err as Error).message}`);
    }
    console.log(
      `train-sim: wrote a ${weights.length}-byte rank-${rank} adapter to s3://${output.bucket}/${prefix}`,
    );
  } finally {
    s3.destroy();
  }
}

export const trainSimCommand = {
  summary: "training SIMULATOR for the fine-tune Job (no GPU): progress lines + a valid PEFT adapter",
  async run(argv: string[]): Promise<number> {
    let stepMs: number;
    try {
      const { values } = parseArgs({
        args: argv,
        options: { "step-ms": { type: "string" }, help: { type: "boolean", short: "h" } },
        strict: true,
      });
      if (values.help) {
        console.log(USAGE);
        return 0;
      }
      stepMs = intFlag("--step-ms", values["step-ms"], { min: 0, max: 60_000 }) ?? 200;
    } catch (err) {
      console.error(`loraplex train-sim: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    try {
      await simulate(process.env, stepMs);
      return 0;
    } catch (err) {
      console.error(`LORAPLEX_ERROR ${(err as Error).message}`);
      return 1;
    }
  },
};
