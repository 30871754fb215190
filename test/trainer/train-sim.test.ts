// The training SIMULATOR (`loraplex train-sim`), which e2e clusters run in the fine-tune Job
// instead of the GPU training image: with `loraplex trainer --training-simulator` the Job runs it
// from the Loraplex image with no GPU request and a restricted security context; run with that
// Job's environment it prints one LORAPLEX_PROGRESS line per step (parsed by the trainer's own
// parser) and writes an adapter the trainer accepts and the router serves. The test control plane
// has no kubelet, so the test runs the Job's container as a local process with the Job's env and
// sets the Job's status itself; reading those lines back from the Pod's log needs a node (e2e).

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { Queue } from "bullmq";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { CONFIG_FILE, checkAdapterDir, WEIGHTS_FILE } from "../../core/peft.ts";
import { createS3Client, parseS3Uri } from "../../core/s3.ts";
import { adapterPrefix } from "../../core/storage-layout.ts";
import { createKubeClient, type KubeClient } from "../../kube/client.ts";
import { loadKubeConfig } from "../../kube/config.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import { parseProgressLine } from "../../trainer/progress.ts";
import { bullConnection, QUEUE_NAME } from "../../trainer/queue.ts";
import { MODEL, type Stack, startStack, until } from "../router/harness.ts";
import { startFineTune } from "../support/openai-calls.ts";
import { freePort, type Proc, runLoraplex, startLoraplex } from "../support/process.ts";
import { uniqueName } from "../support/unique.ts";
import { finishJobAs } from "./k8s-job.ts";

const cfg = loadServiceConfig();
const s3 = createS3Client(cfg);
const trainingNs = uniqueName("training-sim");
const bullPrefix = uniqueName("bull-sim");
const IMAGE = "lpx.test/loraplex:dev";
const WAIT_MS = 60_000;
let stack: Stack;
let trainer: Proc;
let kube: KubeClient;
let acme: OpenAI;

type Container = {
  image: string;
  args?: string[];
  env: { name: string; value: string }[];
  resources?: Record<string, unknown>;
  securityContext?: unknown;
};
type PodSpec = { securityContext?: unknown; containers: Container[] };

/** The service's S3 credentials under the names the tenant's Secret gives the Job (envFrom). */
const secretEnv = {
  S3_ENDPOINT: cfg.S3_ENDPOINT,
  AWS_ACCESS_KEY_ID: cfg.S3_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: cfg.S3_SECRET_ACCESS_KEY,
  AWS_REGION: cfg.S3_REGION,
};

const example = (i: number) =>
  JSON.stringify({
    messages: [
      { role: "user", content: `question ${i}` },
      { role: "assistant", content: `answer ${i}` },
    ],
  });

function progressSteps(stdout: string): { step: number; epoch?: number }[] {
  return stdout.split("\n").flatMap((line) => {
    const p = parseProgressLine(line);
    if (p?.kind === "invalid") throw new Error(`invalid progress line: ${line}`);
    return p?.kind === "progress" ? [{ step: p.progress.step, epoch: p.progress.epoch }] : [];
  });
}

async function putText(key: string, body: string): Promise<string> {
  await s3.send(new PutObjectCommand({ Bucket: cfg.S3_BUCKET, Key: key, Body: body }));
  return `s3://${cfg.S3_BUCKET}/${key}`;
}

/** Downloads the adapter under an s3:// prefix into a temp folder and checks it as vLLM would. */
async function checkOutput(uri: string, baseModel: string) {
  const { bucket, key } = parseS3Uri(uri)!;
  const dir = await mkdtemp(join(tmpdir(), "loraplex-sim-out-"));
  try {
    for (const f of [CONFIG_FILE, WEIGHTS_FILE]) {
      const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}${f}` }));
      await writeFile(join(dir, f), await obj.Body!.transformToByteArray());
    }
    return await checkAdapterDir(dir, { baseModel, maxRank: 64 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  kube = createKubeClient(loadKubeConfig({ kubeconfigPath: inject("kubeconfigPath") }));
  await kube.create(R.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: trainingNs } });
  stack = await startStack({ sharedReplicas: 1, dedicatedReplicas: 0 });
  acme = stack.client(stack.acme);
  const port = await freePort();
  trainer = await startLoraplex(
    [
      "trainer",
      ...["--kubeconfig", inject("kubeconfigPath"), "--tenants-dir", stack.tenantsDir],
      ...["--db-schema", stack.schema, "--bull-prefix", bullPrefix, "--training-namespace", trainingNs],
      ...["--training-simulator", "--image", IMAGE, "--poll-ms", "100", "--dispatch-interval-ms", "100"],
      ...["--port", String(port), "--health-host", "127.0.0.1"],
    ],
    { readyUrl: `http://127.0.0.1:${port}/readyz`, name: "trainer" },
  );
}, 180_000);

afterAll(async () => {
  await trainer?.stop();
  await stack?.stop();
  const q = new Queue(QUEUE_NAME, { connection: bullConnection(cfg.REDIS_URL), prefix: bullPrefix });
  await q.obliterate({ force: true }).catch(() => {});
  await q.close();
  await kube?.delete(R.namespaces, trainingNs).catch(() => {});
  s3.destroy();
});

describe("fine-tunes on the training simulator", () => {
  it("the Job runs train-sim; its progress lines and adapter take the fine-tune to a served model", async () => {
    const job = await startFineTune(acme, MODEL, [1, 2, 3].map(example), "sim");
    const jobName = `ft-${job.id.replace(/^ftjob-/, "")}`;
    await until(async () => (await kube.get(R.jobs, jobName, trainingNs)) !== undefined, "the Job", WAIT_MS);
    const k = (await kube.get<KubeObject>(R.jobs, jobName, trainingNs))!;
    const pod = (k.spec as { template: { spec: PodSpec } }).template.spec;
    const container = pod.containers[0]!;
    expect(container.image).toBe(IMAGE);
    expect(container.args).toEqual(["train-sim"]);
    expect(container.resources).toEqual({}); // no GPU request (the server defaults the field to {})
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });

    // The kubelet's part: the container's command with the Job's env (+ the Secret's).
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    const ran = await runLoraplex([...container.args!, "--step-ms", "0"], { ...env, ...secretEnv });
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    // 3 examples in batches of 2 → 2 steps per epoch, 2 epochs.
    expect(progressSteps(ran.stdout)).toEqual([
      { step: 1, epoch: 0.5 },
      { step: 2, epoch: 1 },
      { step: 3, epoch: 1.5 },
      { step: 4, epoch: 2 },
    ]);
    expect(ran.stdout).toContain("SIMULATED training");

    await finishJobAs(kube, trainingNs, jobName, "Complete", WAIT_MS);
    await until(
      async () => (await acme.fineTuning.jobs.retrieve(job.id)).status !== "running",
      "the fine-tune to end",
      WAIT_MS,
    );
    const done = await acme.fineTuning.jobs.retrieve(job.id);
    expect(done.status).toBe("succeeded");
    const ftModel = done.fine_tuned_model!;
    await until(
      async () => (await acme.models.list()).data.some((m) => m.id === ftModel),
      "the model to be listed",
      WAIT_MS,
    );
    const r = await acme.chat.completions.create({
      model: ftModel,
      messages: [{ role: "user", content: "hello" }],
      max_tokens: 8,
    });
    expect(r.choices[0]?.message.content).toBeTruthy();
  }, 150_000);

  it("writes LoRA tensors shaped for a known base model, with the Job's rank and alpha", async () => {
    const tenant = uniqueName("sim-shapes");
    const out = `s3://${cfg.S3_BUCKET}/${adapterPrefix(tenant, "ft-shapes", 1)}`;
    const ran = await runLoraplex(["train-sim", "--step-ms", "0"], {
      ...secretEnv,
      FINE_TUNE_ID: "ftjob-shapes",
      BASE_MODEL: "llama-3.1-8b-instruct",
      TRAINING_FILE_URI: await putText(`tenants/${tenant}/files/file-1`, `${example(1)}\n`),
      OUTPUT_URI: out,
      N_EPOCHS: "1",
      BATCH_SIZE: "1",
      LEARNING_RATE_MULTIPLIER: "1",
      LORA_RANK: "16",
      LORA_ALPHA: "32",
      SEED: "7",
    });
    expect(ran.code).toBe(0);
    const check = await checkOutput(out, "llama-3.1-8b-instruct");
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.config).toMatchObject({ r: 16, lora_alpha: 32, target_modules: ["q_proj", "v_proj"] });
    expect(check.tensors).toBe(32 * 2 * 2); // 32 layers × (q_proj, v_proj) × (A, B)
    const header = await tensorShapes(out);
    // Llama 3.1 8B: hidden 4096; v_proj projects to 8 KV heads × 128 = 1024.
    expect(header["base_model.model.model.layers.31.self_attn.q_proj.lora_A.weight"]).toEqual([16, 4096]);
    expect(header["base_model.model.model.layers.31.self_attn.q_proj.lora_B.weight"]).toEqual([4096, 16]);
    expect(header["base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"]).toEqual([1024, 16]);
  });

  it("fails with LORAPLEX_ERROR and writes nothing when the training file is missing", async () => {
    const tenant = uniqueName("sim-missing");
    const prefix = adapterPrefix(tenant, "ft-missing", 1);
    const ran = await runLoraplex(["train-sim", "--step-ms", "0"], {
      ...secretEnv,
      FINE_TUNE_ID: "ftjob-missing",
      BASE_MODEL: MODEL,
      TRAINING_FILE_URI: `s3://${cfg.S3_BUCKET}/tenants/${tenant}/files/nope`,
      OUTPUT_URI: `s3://${cfg.S3_BUCKET}/${prefix}`,
      N_EPOCHS: "1",
      BATCH_SIZE: "1",
      LORA_RANK: "8",
      LORA_ALPHA: "16",
    });
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/^LORAPLEX_ERROR cannot read TRAINING_FILE_URI/);
    const listed = await s3
      .send(new GetObjectCommand({ Bucket: cfg.S3_BUCKET, Key: `${prefix}${CONFIG_FILE}` }))
      .then(
        () => "present",
        () => "absent",
      );
    expect(listed).toBe("absent");
  });
});

async function tensorShapes(uri: string): Promise<Record<string, number[]>> {
  const { bucket, key } = parseS3Uri(uri)!;
  const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}${WEIGHTS_FILE}` }));
  const buf = Buffer.from(await obj.Body!.transformToByteArray());
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, { shape: number[] }>;
  return Object.fromEntries(
    Object.entries(header)
      .filter(([k]) => k !== "__metadata__")
      .map(([k, v]) => [k, v.shape]),
  );
}
