// The files and fine-tuning APIs' size and count limits, set through the router's environment
// (LORAPLEX_MAX_FILE_BYTES, LORAPLEX_MAX_ACTIVE_FINE_TUNES): an oversized upload is a 413 and a
// tenant at its cap of unfinished jobs gets a 429, both in OpenAI's error shape; another tenant
// is unaffected, and cancelling frees room again.
import OpenAI, { type APIError, toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, type Stack, startStack } from "../router/harness.ts";

let stack: Stack;
const line = `${JSON.stringify({
  messages: [
    { role: "user", content: "q" },
    { role: "assistant", content: "a" },
  ],
})}\n`;

async function failure(p: Promise<unknown>): Promise<APIError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}

beforeAll(async () => {
  // The router child process inherits this file's environment (test/support/process.ts).
  process.env.LORAPLEX_MAX_FILE_BYTES = "4096";
  process.env.LORAPLEX_MAX_ACTIVE_FINE_TUNES = "2";
  stack = await startStack({ sharedReplicas: 1, dedicatedReplicas: 0 });
});
afterAll(async () => {
  await stack?.stop();
});

describe("training API limits", () => {
  it("rejects a file over the size limit with a 413", async () => {
    const client = stack.client(stack.acme);
    const big = line.repeat(Math.ceil(5000 / line.length));
    const e = await failure(
      client.files.create({ file: await toFile(Buffer.from(big), "big.jsonl"), purpose: "fine-tune" }),
    );
    expect(e.status).toBe(413);
    expect(e.code).toBe("file_too_large");
    const small = await client.files.create({
      file: await toFile(Buffer.from(line), "ok.jsonl"),
      purpose: "fine-tune",
    });
    expect(small.bytes).toBe(Buffer.byteLength(line));
  });

  it("answers 429 once a tenant holds its maximum of unfinished jobs, per tenant", async () => {
    const acme = stack.client(stack.acme);
    const f = await acme.files.create({
      file: await toFile(Buffer.from(line), "t.jsonl"),
      purpose: "fine-tune",
    });
    const first = await acme.fineTuning.jobs.create({ model: MODEL, training_file: f.id });
    await acme.fineTuning.jobs.create({ model: MODEL, training_file: f.id });
    const e = await failure(acme.fineTuning.jobs.create({ model: MODEL, training_file: f.id }));
    expect(e.status).toBe(429);
    expect(e.code).toBe("too_many_active_jobs");
    const initech = stack.client(stack.initech);
    const g = await initech.files.create({
      file: await toFile(Buffer.from(line), "t.jsonl"),
      purpose: "fine-tune",
    });
    expect((await initech.fineTuning.jobs.create({ model: MODEL, training_file: g.id })).status).toBe(
      "queued",
    );
    await acme.fineTuning.jobs.cancel(first.id);
    expect((await acme.fineTuning.jobs.create({ model: MODEL, training_file: f.id })).status).toBe("queued");
  });
});
