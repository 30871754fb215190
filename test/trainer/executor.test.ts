// The fine-tune lifecycle end to end with the official `openai` client: a real `loraplex router`
// (engine simulator + agent behind it), a real `loraplex trainer` process and the Kubernetes
// test control plane. The control plane has no kubelet, so the test plays the training
// container's part: it writes a valid adapter to the Job's OUTPUT_URI and sets the Job's
// status through its /status subresource, as the Job controller would. Progress lines from pod
// logs are not covered here (no pods run); trainer/progress.test.ts covers their parsing.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { Queue } from "bullmq";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { CONFIG_FILE, WEIGHTS_FILE, writeAdapter } from "../../core/peft.ts";
import { createS3Client, parseS3Uri } from "../../core/s3.ts";
import { loraName } from "../../core/storage-layout.ts";
import { createKubeClient, type KubeClient } from "../../kube/client.ts";
import { loadKubeConfig } from "../../kube/config.ts";
import { type KubeObject, R } from "../../kube/types.ts";
import { bullConnection, QUEUE_NAME } from "../../trainer/queue.ts";
import { MODEL, type Stack, startStack, until } from "../router/harness.ts";
import { freePort, type Proc, startLoraplex } from "../support/process.ts";
import { uniqueName } from "../support/unique.ts";
import { finishJobAs } from "./k8s-job.ts";

const cfg = loadServiceConfig();
const s3 = createS3Client(cfg);
const trainingNs = uniqueName("training");
const bullPrefix = uniqueName("bull-ft");
const WAIT_MS = 60_000;
let stack: Stack;
let trainer: Proc;
let kube: KubeClient;
let acme: OpenAI;
let initech: OpenAI;

type Container = {
  env: { name: string; value: string }[];
  envFrom: { secretRef: { name: string } }[];
  resources?: { limits: Record<string, string> };
};
type JobSpec = {
  backoffLimit: number;
  activeDeadlineSeconds: number;
  template: { spec: { nodeSelector: Record<string, string>; containers: Container[] } };
};

const trainingJsonl = `${JSON.stringify({
  messages: [
    { role: "user", content: "hi" },
    { role: "assistant", content: "hello" },
  ],
})}\n`;

async function submit(suffix: string) {
  const file = await acme.files.create({
    file: await toFile(Buffer.from(trainingJsonl), "train.jsonl"),
    purpose: "fine-tune",
  });
  const job = await acme.fineTuning.jobs.create({ model: MODEL, training_file: file.id, suffix });
  return { job, file, jobName: `ft-${job.id.replace(/^ftjob-/, "")}` };
}

async function k8sJob(name: string): Promise<KubeObject> {
  await until(async () => (await kube.get(R.jobs, name, trainingNs)) !== undefined, `Job ${name}`, WAIT_MS);
  return (await kube.get<KubeObject>(R.jobs, name, trainingNs))!;
}

async function finished(id: string) {
  const ended = async () => (await acme.fineTuning.jobs.retrieve(id)).status !== "running";
  await until(ended, `fine-tune ${id} to end`, WAIT_MS);
  return acme.fineTuning.jobs.retrieve(id);
}

const finishK8sJob = (name: string, outcome: "Complete" | "Failed") =>
  finishJobAs(kube, trainingNs, name, outcome, WAIT_MS);

/** Plays the training container: a valid PEFT adapter at OUTPUT_URI. */
async function uploadTrainedAdapter(outputUri: string) {
  const dir = await mkdtemp(join(tmpdir(), "loraplex-ft-test-"));
  try {
    await writeAdapter(dir, { baseModel: MODEL, seed: outputUri });
    const { bucket, key } = parseS3Uri(outputUri)!;
    for (const f of [CONFIG_FILE, WEIGHTS_FILE]) {
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: `${key}${f}`, Body: await readFile(join(dir, f)) }),
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const envOf = (k: KubeObject) =>
  Object.fromEntries((k.spec as JobSpec).template.spec.containers[0]!.env.map((e) => [e.name, e.value]));

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e.status as number;
    throw e;
  }
  return 200;
}

/** A `loraplex trainer` beside the stack's router; a short lock so a dead one is taken over soon. */
async function startTrainer(): Promise<Proc> {
  const port = await freePort();
  return startLoraplex(
    [
      "trainer",
      ...["--kubeconfig", inject("kubeconfigPath"), "--tenants-dir", stack.tenantsDir],
      ...["--db-schema", stack.schema, "--bull-prefix", bullPrefix, "--capacity", "4"],
      ...["--training-namespace", trainingNs, "--gpus", "1", "--node-selector", "loraplex.io/gpu=a10g"],
      ...["--active-deadline-seconds", "7200", "--poll-ms", "100", "--dispatch-interval-ms", "100"],
      ...["--lock-duration-ms", "1500", "--port", String(port), "--health-host", "127.0.0.1"],
    ],
    { readyUrl: `http://127.0.0.1:${port}/readyz`, name: "trainer" },
  );
}

beforeAll(async () => {
  kube = createKubeClient(loadKubeConfig({ kubeconfigPath: inject("kubeconfigPath") }));
  await kube.create(R.namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: trainingNs } });
  stack = await startStack({ sharedReplicas: 1, dedicatedReplicas: 0 });
  acme = stack.client(stack.acme);
  initech = stack.client(stack.initech);
  trainer = await startTrainer();
}, 180_000);

afterAll(async () => {
  await trainer?.stop();
  await stack?.stop();
  const q = new Queue(QUEUE_NAME, { connection: bullConnection(cfg.REDIS_URL), prefix: bullPrefix });
  await q.obliterate({ force: true }).catch(() => {});
  await q.close();
  await kube?.delete(R.namespaces, trainingNs).catch(() => {});
});

describe("fine-tunes as Kubernetes Jobs", () => {
  it("creates the Job, registers the trained adapter and serves it to its tenant only", async () => {
    const { job, file, jobName } = await submit("support");
    const k = await k8sJob(jobName);
    expect(k.metadata.labels).toMatchObject({
      "loraplex.io/tenant": stack.acme,
      "loraplex.io/fine-tune": job.id,
    });
    const spec = k.spec as JobSpec;
    expect(spec.backoffLimit).toBe(0);
    expect(spec.activeDeadlineSeconds).toBe(7200);
    expect(spec.template.spec.nodeSelector).toEqual({ "loraplex.io/gpu": "a10g" });
    const container = spec.template.spec.containers[0]!;
    expect(container.resources?.limits).toEqual({ "nvidia.com/gpu": "1" });
    expect(container.envFrom).toEqual([{ secretRef: { name: `loraplex-s3-${stack.acme}` } }]);
    const env = envOf(k);
    const adapter = jobName;
    expect(env).toMatchObject({
      FINE_TUNE_ID: job.id,
      BASE_MODEL: MODEL,
      TRAINING_FILE_URI: `s3://${cfg.S3_BUCKET}/tenants/${stack.acme}/files/${file.id}`,
      OUTPUT_URI: `s3://${cfg.S3_BUCKET}/tenants/${stack.acme}/adapters/${adapter}/1/`,
      LORA_RANK: "8",
      SEED: String(job.seed),
    });
    for (const k of ["N_EPOCHS", "BATCH_SIZE", "LEARNING_RATE_MULTIPLIER", "LORA_ALPHA"])
      expect(env[k]).toBeTruthy();
    await until(
      async () => (await acme.fineTuning.jobs.retrieve(job.id)).status === "running",
      "running",
      WAIT_MS,
    );

    await uploadTrainedAdapter(env.OUTPUT_URI!);
    await finishK8sJob(jobName, "Complete");
    const done = await finished(job.id);
    expect(done.status).toBe("succeeded");
    const ftModel = `ft:${MODEL}:${stack.acme}:support:${job.id.replace(/^ftjob-/, "")}`;
    expect(done.fine_tuned_model).toBe(ftModel);

    // Routers re-read registered adapters on a short interval.
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
    expect(r.model).toBe(ftModel);
    expect(r.choices[0]?.message.content).toBeTruthy();
    const engine = stack.shared[0]!.engineUrl;
    const cards = (await (await fetch(`${engine}/v1/models`)).json()) as { data: { id: string }[] };
    expect(cards.data.map((c) => c.id)).toContain(loraName(stack.acme, adapter, 1));

    // Another tenant can neither see nor use it, nor read the job.
    expect((await initech.models.list()).data.map((m) => m.id)).not.toContain(ftModel);
    const chat = initech.chat.completions.create({
      model: ftModel,
      messages: [{ role: "user", content: "x" }],
    });
    expect(await statusOf(chat)).toBe(404);
    expect(await statusOf(initech.models.retrieve(ftModel))).toBe(404);
    expect(await statusOf(initech.fineTuning.jobs.retrieve(job.id))).toBe(404);
  });

  it("cancelling a running fine-tune deletes its Job", async () => {
    const { job, jobName } = await submit("cancel-me");
    await k8sJob(jobName);
    await until(
      async () => (await acme.fineTuning.jobs.retrieve(job.id)).status === "running",
      "running",
      WAIT_MS,
    );
    expect((await acme.fineTuning.jobs.cancel(job.id)).status).toBe("cancelled");
    await until(
      async () => (await kube.get(R.jobs, jobName, trainingNs)) === undefined,
      "the Job deleted",
      WAIT_MS,
    );
    expect((await acme.fineTuning.jobs.retrieve(job.id)).fine_tuned_model).toBeNull();
  });

  it("a failed Job fails the fine-tune with the Job's reason", async () => {
    const { job, jobName } = await submit("fails");
    await k8sJob(jobName);
    await until(
      async () => (await acme.fineTuning.jobs.retrieve(job.id)).status === "running",
      "running",
      WAIT_MS,
    );
    await finishK8sJob(jobName, "Failed");
    const done = await finished(job.id);
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({ code: "training_failed" });
    expect(done.error?.message).toMatch(/BackoffLimitExceeded/);
    expect(done.fine_tuned_model).toBeNull();
  });

  it("a Job that completes without a loadable adapter fails the fine-tune, nothing is registered", async () => {
    const { job, jobName } = await submit("no-output");
    await k8sJob(jobName);
    await until(
      async () => (await acme.fineTuning.jobs.retrieve(job.id)).status === "running",
      "running",
      WAIT_MS,
    );
    await finishK8sJob(jobName, "Complete");
    const done = await finished(job.id);
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({ code: "invalid_adapter" });
    expect(done.error?.message).toMatch(/adapter_config\.json/);
    const ftModel = `ft:${MODEL}:${stack.acme}:no-output:${job.id.replace(/^ftjob-/, "")}`;
    await new Promise((r) => setTimeout(r, 2_500)); // past a router refresh
    expect((await acme.models.list()).data.map((m) => m.id)).not.toContain(ftModel);
  });

  it("a trainer that dies mid-job is replaced without training twice", async () => {
    const { job, jobName } = await submit("survivor");
    await k8sJob(jobName);
    await until(
      async () => (await acme.fineTuning.jobs.retrieve(job.id)).status === "running",
      "running",
      WAIT_MS,
    );
    trainer.child.kill("SIGKILL");
    await trainer.exited;
    trainer = await startTrainer();
    // The new trainer takes the task over as stalled and follows the same Job to its end.
    await uploadTrainedAdapter(envOf(await k8sJob(jobName)).OUTPUT_URI!);
    await finishK8sJob(jobName, "Complete");
    const done = await finished(job.id);
    expect(done.status).toBe("succeeded");
    const jobs = await kube.list(R.jobs, {
      namespace: trainingNs,
      labelSelector: `loraplex.io/fine-tune=${job.id}`,
    });
    expect(jobs.items).toHaveLength(1);
  }, 150_000);
});
