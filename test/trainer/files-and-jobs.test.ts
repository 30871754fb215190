// The files and fine-tuning APIs through the official `openai` client against a real
// `loraplex router` process (Postgres, Redis, S3 real; one engine simulator so the router is
// ready): upload and validation, job creation with its checks, listing, events, checkpoints,
// cancel, and the tenant gate — another tenant's ids are 404s exactly like unknown ones.
import type OpenAI from "openai";
import { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, type Stack, startStack } from "../router/harness.ts";
import { failure } from "../support/openai-calls.ts";

let stack: Stack;
let acme: OpenAI;
let initech: OpenAI;

const example = (q: string) =>
  JSON.stringify({
    messages: [
      { role: "user", content: q },
      { role: "assistant", content: `An answer to ${q}` },
    ],
  });
const goodJsonl = `${[1, 2, 3].map((i) => example(`question ${i}`)).join("\n")}\n`;
const upload = async (client: OpenAI, text = goodJsonl, name = "train.jsonl") =>
  client.files.create({ file: await toFile(Buffer.from(text), name), purpose: "fine-tune" });

beforeAll(async () => {
  stack = await startStack({ sharedReplicas: 1, dedicatedReplicas: 0 });
  acme = stack.client(stack.acme);
  initech = stack.client(stack.initech);
});
afterAll(async () => {
  await stack?.stop();
});

describe("files API", () => {
  it("stores a valid file and serves it back, listed only to its tenant", async () => {
    const f = await upload(acme);
    expect(f).toMatchObject({
      object: "file",
      bytes: Buffer.byteLength(goodJsonl),
      filename: "train.jsonl",
      purpose: "fine-tune",
      status: "processed",
    });
    expect(f.id).toMatch(/^file-/);
    expect(await acme.files.retrieve(f.id)).toEqual(f);
    expect(await (await acme.files.content(f.id)).text()).toBe(goodJsonl);
    const ids = [];
    for await (const x of acme.files.list()) ids.push(x.id);
    expect(ids).toContain(f.id);
    const theirs = [];
    for await (const x of initech.files.list()) theirs.push(x.id);
    expect(theirs).not.toContain(f.id);
  });

  it("answers another tenant's file id exactly like an unknown one", async () => {
    const f = await upload(acme);
    const other = await failure(initech.files.retrieve(f.id));
    const unknown = await failure(initech.files.retrieve("file-doesnotexist000"));
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(other.error.code).toBe(unknown.error.code);
    expect((await failure(initech.files.content(f.id))).status).toBe(404);
    expect((await failure(initech.files.delete(f.id))).status).toBe(404);
    expect((await acme.files.retrieve(f.id)).id).toBe(f.id);
  });

  it("rejects malformed JSONL with the first errors and their line numbers", async () => {
    const text = `${example("ok")}\n{oops\n${JSON.stringify({ messages: [{ role: "user", content: "no answer" }] })}\n`;
    const r = await failure(upload(acme, text));
    expect(r.status).toBe(400);
    expect(r.error.type).toBe("invalid_request_error");
    expect(r.error.message).toMatch(
      /line 2: not valid JSON; line 3: an example needs at least one assistant/,
    );
  });

  it("rejects a purpose other than fine-tune or assistants and a body that is not multipart", async () => {
    const r = await failure(
      acme.files.create({ file: await toFile(Buffer.from(goodJsonl), "x.jsonl"), purpose: "batch" }),
    );
    expect(r.status).toBe(400);
    expect(r.error.param).toBe("purpose");
    const raw = await stack.post(stack.acme, "/v1/files", { purpose: "fine-tune" });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
  });

  it("deletes a file: gone from S3-backed content and metadata", async () => {
    const f = await upload(acme);
    expect(await acme.files.delete(f.id)).toEqual({ id: f.id, object: "file", deleted: true });
    expect((await failure(acme.files.retrieve(f.id))).status).toBe(404);
    expect((await failure(acme.files.content(f.id))).status).toBe(404);
  });
});

describe("fine-tuning API", () => {
  it("creates a queued job with OpenAI's shape, events and an empty checkpoint list", async () => {
    const f = await upload(acme);
    const job = await acme.fineTuning.jobs.create({
      model: MODEL,
      training_file: f.id,
      suffix: "support",
      seed: 7,
      hyperparameters: { n_epochs: 2, batch_size: "auto", learning_rate_multiplier: 0.5 },
    });
    expect(job).toMatchObject({
      object: "fine_tuning.job",
      model: MODEL,
      training_file: f.id,
      validation_file: null,
      status: "queued",
      seed: 7,
      fine_tuned_model: null,
      error: null,
      hyperparameters: { n_epochs: 2, batch_size: 8, learning_rate_multiplier: 0.5 },
    });
    expect(job.id).toMatch(/^ftjob-/);
    expect(await acme.fineTuning.jobs.retrieve(job.id)).toEqual(job);
    const events = await acme.fineTuning.jobs.listEvents(job.id);
    expect(events.data.map((e) => e.message)).toEqual([
      "Files validated, moving job to queued state",
      `Validating training file: ${f.id}`,
    ]);
    expect(events.data[0]?.object).toBe("fine_tuning.job.event");
    const checkpoints = await acme.fineTuning.jobs.checkpoints.list(job.id);
    expect(checkpoints.data).toEqual([]);
  });

  it("pages the job list newest first with after/limit", async () => {
    const f = await upload(initech);
    const made = [];
    for (let i = 0; i < 3; i++)
      made.push(await initech.fineTuning.jobs.create({ model: MODEL, training_file: f.id }));
    const first = await initech.fineTuning.jobs.list({ limit: 2 });
    expect(first.data.map((j) => j.id)).toEqual([made[2]!.id, made[1]!.id]);
    expect(first.has_more).toBe(true);
    const second = await initech.fineTuning.jobs.list({ limit: 2, after: made[1]!.id });
    expect(second.data.map((j) => j.id)).toEqual([made[0]!.id]);
    const all = [];
    for await (const j of initech.fineTuning.jobs.list({ limit: 1 })) all.push(j.id);
    expect(all).toEqual(made.map((j) => j.id).reverse());
  });

  it("cancels a queued job once; a finished job cannot be cancelled again", async () => {
    const f = await upload(acme);
    const job = await acme.fineTuning.jobs.create({ model: MODEL, training_file: f.id });
    const cancelled = await acme.fineTuning.jobs.cancel(job.id);
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.finished_at).toBeGreaterThan(0);
    const again = await failure(acme.fineTuning.jobs.cancel(job.id));
    expect(again.status).toBe(400);
    const events = await acme.fineTuning.jobs.listEvents(job.id, { limit: 1 });
    expect(events.data[0]?.message).toBe("Fine-tuning job cancelled");
    expect(events.has_more).toBe(true);
  });

  it("hides one tenant's jobs from another: 404 like an unknown id on every route", async () => {
    const f = await upload(acme);
    const job = await acme.fineTuning.jobs.create({ model: MODEL, training_file: f.id });
    for (const call of [
      () => initech.fineTuning.jobs.retrieve(job.id),
      () => initech.fineTuning.jobs.cancel(job.id),
      () => initech.fineTuning.jobs.listEvents(job.id),
      () => initech.fineTuning.jobs.checkpoints.list(job.id),
      () => initech.fineTuning.jobs.retrieve("ftjob-unknown"),
    ]) {
      const r = await failure(call());
      expect(r.status).toBe(404);
      expect(r.error.code).toBe("fine_tuning_job_not_found");
    }
    const listed = await initech.fineTuning.jobs.list({ limit: 100 });
    expect(listed.data.map((j) => j.id)).not.toContain(job.id);
    expect((await acme.fineTuning.jobs.retrieve(job.id)).status).toBe("queued");
  });

  it("rejects bad input with OpenAI-shaped 400s, never a 500", async () => {
    const mine = await upload(acme);
    const theirs = await upload(initech);
    const cases: [OpenAI.FineTuning.JobCreateParams, string][] = [
      [{ model: "not-my-model", training_file: mine.id }, "model"],
      [{ model: MODEL, training_file: theirs.id }, "training_file"],
      [{ model: MODEL, training_file: "file-nope" }, "training_file"],
      [{ model: MODEL, training_file: mine.id, validation_file: theirs.id }, "validation_file"],
      [
        { model: MODEL, training_file: mine.id, hyperparameters: { n_epochs: 0 } },
        "hyperparameters.n_epochs",
      ],
      [
        { model: MODEL, training_file: mine.id, hyperparameters: { batch_size: 1.5 } },
        "hyperparameters.batch_size",
      ],
      [
        { model: MODEL, training_file: mine.id, hyperparameters: { learning_rate_multiplier: 100 } },
        "hyperparameters.learning_rate_multiplier",
      ],
      [{ model: MODEL, training_file: mine.id, suffix: "Bad Suffix!" }, "suffix"],
      [{ model: MODEL, training_file: mine.id, seed: -1 }, "seed"],
    ];
    for (const [body, param] of cases) {
      const r = await failure(acme.fineTuning.jobs.create(body));
      expect(r.status, param).toBe(400);
      expect(r.error.param, param).toBe(param);
      expect(r.error.type).toBe("invalid_request_error");
    }
    const raw = await stack.post(stack.acme, "/v1/fine_tuning/jobs", "{not json");
    expect(raw.status).toBe(400);
    const page = await fetch(`${stack.url}/v1/fine_tuning/jobs?limit=abc`, {
      headers: { authorization: `Bearer ${stack.keys[stack.acme]}` },
    });
    expect(page.status).toBe(400);
    const anonymous = await stack.post(undefined, "/v1/fine_tuning/jobs", {});
    expect(anonymous.status).toBe(401);
  });
});
