// `loraplex trainer --executor local` (local mode, no Kubernetes) with the official `openai`
// client against a real router stack. Without the Python training environment a fine-tune must
// fail and say how to install it (CI has no such environment). When .tools/trainer-venv exists
// (`make trainer-selftest` installs it) a second test really trains: train.py on a tiny random
// Llama built by trainer/image/selftest.py, then the adapter is served through the router.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import type OpenAI from "openai";
import { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { DEFAULT_TRAINER_PYTHON } from "../../trainer/executor-local.ts";
import { bullConnection, QUEUE_NAME } from "../../trainer/queue.ts";
import { MODEL, type Stack, startStack, until } from "../router/harness.ts";
import { freePort, type Proc, startLoraplex } from "../support/process.ts";
import { uniqueName } from "../support/unique.ts";

const cfg = loadServiceConfig();
const WAIT_MS = 120_000;
const hasVenv = existsSync(DEFAULT_TRAINER_PYTHON);
const prefixes: string[] = [];
const procs: Proc[] = [];
let stack: Stack;
let tmp: string;

const COLORS: Record<string, string> = { sky: "blue", grass: "green", snow: "white", coal: "black" };
const examples = Array.from({ length: 32 }, (_, i) => {
  const thing = Object.keys(COLORS)[i % 4]!;
  return {
    messages: [
      { role: "user", content: `what color is the ${thing} ?` },
      { role: "assistant", content: `the ${thing} is ${COLORS[thing]} .` },
    ],
  };
});
const jsonl = examples.map((e) => JSON.stringify(e)).join("\n");

async function startTrainer(python: string, extra: string[] = []): Promise<Proc> {
  const port = await freePort();
  const prefix = uniqueName("bull-ft-local");
  prefixes.push(prefix);
  const proc = await startLoraplex(
    [
      "trainer",
      ...["--executor", "local", "--python", python, "--tenants-dir", stack.tenantsDir],
      ...["--db-schema", stack.schema, "--bull-prefix", prefix, "--capacity", "1"],
      ...[
        "--poll-ms",
        "100",
        "--dispatch-interval-ms",
        "100",
        "--port",
        String(port),
        "--health-host",
        "127.0.0.1",
        ...extra,
      ],
    ],
    { readyUrl: `http://127.0.0.1:${port}/readyz`, name: "trainer-local" },
  );
  procs.push(proc);
  return proc;
}

async function submit(client: OpenAI, suffix: string, hyperparameters?: object) {
  const file = await client.files.create({
    file: await toFile(Buffer.from(jsonl), "train.jsonl"),
    purpose: "fine-tune",
  });
  return client.fineTuning.jobs.create({
    model: MODEL,
    training_file: file.id,
    suffix,
    ...(hyperparameters ? { hyperparameters } : {}),
  });
}

async function ended(client: OpenAI, id: string) {
  const done = async () =>
    !["queued", "running"].includes((await client.fineTuning.jobs.retrieve(id)).status);
  await until(done, `fine-tune ${id} to end`, WAIT_MS);
  return client.fineTuning.jobs.retrieve(id);
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "loraplex-local-trainer-"));
  stack = await startStack({ sharedReplicas: 1, dedicatedReplicas: 0 });
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  await stack?.stop();
  for (const prefix of prefixes) {
    const q = new Queue(QUEUE_NAME, { connection: bullConnection(cfg.REDIS_URL), prefix });
    await q.obliterate({ force: true }).catch(() => {});
    await q.close();
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("local executor", () => {
  it("fails the fine-tune, saying how to enable local training, when the Python environment is absent", async () => {
    const missing = join(tmp, "no-venv", "bin", "python");
    const trainer = await startTrainer(missing);
    const acme = stack.client(stack.acme);
    const job = await submit(acme, "novenv");
    const done = await ended(acme, job.id);
    expect(done.status).toBe("failed");
    expect(done.fine_tuned_model).toBeNull();
    expect(done.error?.code).toBe("training_unavailable");
    expect(done.error?.message).toContain(missing);
    expect(done.error?.message).toContain("make trainer-selftest");
    expect(done.error?.message).toContain("scripts/trainer-env.sh");
    await trainer.stop();
  });

  describe.skipIf(!hasVenv)("with the training venv", () => {
    beforeAll(async () => {
      // A tiny random Llama under the served model's name, built offline by the selftest's code.
      const modelsDir = join(tmp, "models");
      await mkdir(modelsDir, { recursive: true });
      const texts = examples.flatMap((e) => e.messages.map((m) => `${m.role}: ${m.content}`));
      execFileSync(
        DEFAULT_TRAINER_PYTHON,
        [
          "-c",
          "import json, sys; sys.path.insert(0, 'trainer/image'); import selftest; " +
            "selftest.build_base_model(sys.argv[1], json.loads(sys.argv[2]))",
          join(modelsDir, MODEL),
          JSON.stringify(texts),
        ],
        { stdio: "ignore", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } },
      );
      // Capacity 1: a fine-tune that starts after a cancelled one proves the slot was freed.
      await startTrainer(DEFAULT_TRAINER_PYTHON, ["--base-models-dir", modelsDir]);
    }, 180_000);

    it(
      "cancelling a running fine-tune stops its training run",
      async () => {
        const acme = stack.client(stack.acme);
        const job = await submit(acme, "long", { n_epochs: 50, batch_size: 1 });
        const stepped = async () =>
          (await acme.fineTuning.jobs.listEvents(job.id, { limit: 5 })).data.some((e) =>
            e.message.startsWith("Step "),
          );
        await until(stepped, "a first training step", WAIT_MS);
        await acme.fineTuning.jobs.cancel(job.id);
        const done = await ended(acme, job.id);
        expect(done.status).toBe("cancelled");
        expect(done.fine_tuned_model).toBeNull();
      },
      WAIT_MS,
    );

    it(
      "trains a LoRA with train.py and serves it through the router",
      async () => {
        const acme = stack.client(stack.acme);
        const job = await submit(acme, "colors", {
          n_epochs: 2,
          batch_size: 8,
          learning_rate_multiplier: 10,
        });
        const done = await ended(acme, job.id);
        expect(done.error).toBeNull();
        expect(done.status).toBe("succeeded");
        const events = await acme.fineTuning.jobs.listEvents(job.id, { limit: 100 });
        const steps = events.data.filter((e) => /^Step \d+: training loss=/.test(e.message));
        expect(steps).toHaveLength(8); // 32 examples, batch 8, 2 epochs
        const ftModel = done.fine_tuned_model!;
        // Routers re-read registered adapters on a short interval.
        await until(
          async () => (await acme.models.list()).data.some((m) => m.id === ftModel),
          "the fine-tuned model to be listed",
          WAIT_MS,
        );
        const chat = await acme.chat.completions.create({
          model: ftModel,
          messages: [{ role: "user", content: "what color is the sky ?" }],
          max_tokens: 4,
        });
        expect(chat.choices[0]?.message.content).toBeTruthy();
      },
      WAIT_MS,
    );
  });
});
