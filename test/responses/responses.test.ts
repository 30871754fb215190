// The Responses API through the official `openai` client against a real router, engine simulator
// and adapter agent, Postgres, Redis and S3: responses.create and responses.stream for a base
// model and an adapter, a conversation continued with previous_response_id, the stored response
// read, listed and deleted, and every such request billed and audited exactly once.
import { randomUUID } from "node:crypto";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/stack.ts";
import {
  ADAPTER,
  failure,
  MODEL,
  type ResponsesStack,
  SYSTEM_PROMPT,
  startResponsesStack,
} from "./harness.ts";

let s: ResponsesStack;
let acme: OpenAI;
/** x-request-id of every Responses request this file sent and expects served. */
const served: string[] = [];

const tagged = () => {
  const id = `resp-test-${randomUUID()}`;
  served.push(id);
  return { headers: { "x-request-id": id } };
};

beforeAll(async () => {
  s = await startResponsesStack();
  acme = s.client(s.acme);
}, 180_000);
afterAll(async () => {
  await s?.stop();
});

describe("responses.create and responses.stream", () => {
  for (const model of [MODEL, ADAPTER]) {
    it(`creates a response with ${model === MODEL ? "the base model" : "an adapter"}, stored and readable`, async () => {
      const r = await acme.responses.create(
        { model, input: "Say something about tea.", max_output_tokens: 12, metadata: { case: "create" } },
        tagged(),
      );
      expect(r).toMatchObject({
        object: "response",
        status: expect.stringMatching(/^(completed|incomplete)$/),
        model,
      });
      expect(r.id).toMatch(/^resp_[0-9a-f]{48}$/);
      expect(r.output_text.length).toBeGreaterThan(0);
      expect(r.output[0]).toMatchObject({ type: "message", role: "assistant" });
      expect(r.usage?.input_tokens).toBeGreaterThan(0);
      expect(r.usage?.output_tokens).toBeGreaterThan(0);
      expect(r.usage?.total_tokens).toBe((r.usage?.input_tokens ?? 0) + (r.usage?.output_tokens ?? 0));
      expect(r.usage?.input_tokens_details.cached_tokens).toBe(0);
      const again = await acme.responses.retrieve(r.id);
      expect(again).toMatchObject({ id: r.id, model, metadata: { case: "create" }, output: r.output });
    });

    it(`streams a response with ${model === MODEL ? "the base model" : "an adapter"} as the SDK's helper expects`, async () => {
      const stream = acme.responses.stream(
        { model, input: "Tell me about rivers.", max_output_tokens: 16 },
        tagged(),
      );
      const types: string[] = [];
      const sequence: number[] = [];
      let deltas = "";
      for await (const ev of stream) {
        types.push(ev.type);
        sequence.push(ev.sequence_number);
        if (ev.type === "response.output_text.delta") deltas += ev.delta;
      }
      const final = await stream.finalResponse();
      expect(sequence).toEqual(sequence.map((_, i) => i));
      const order = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
      ];
      expect(types.filter((t, i) => t !== types[i - 1])).toEqual([...order, "response.completed"]);
      // The stream helper's final response carries no output_text convenience field: read the items.
      expect(textOf(final)).toBe(deltas);
      expect(deltas.length).toBeGreaterThan(0);
      expect(final.model).toBe(model);
      expect(final.usage?.output_tokens).toBeGreaterThan(0);
      const stored = await acme.responses.retrieve(final.id);
      expect(stored.output_text).toBe(deltas);
      expect(stored.usage).toEqual(final.usage);
    });
  }

  it("continues a conversation with previous_response_id", async () => {
    const first = await acme.responses.create(
      { model: MODEL, input: "My name is Ada Lovelace.", instructions: "Answer briefly." },
      tagged(),
    );
    const secondId = tagged();
    const second = await acme.responses.create(
      { model: ADAPTER, input: "What is my name?", previous_response_id: first.id },
      secondId,
    );
    expect(second.previous_response_id).toBe(first.id);
    // The engine saw the first turn (question and answer) but not its instructions.
    const prompt = await auditedPrompt(secondId.headers["x-request-id"]);
    const roles = prompt.map((m) => m.role);
    expect(roles).toEqual(["system", "user", "assistant", "user"]);
    expect(prompt[0]!.content).toBe(SYSTEM_PROMPT);
    expect(prompt[1]!.content).toBe("My name is Ada Lovelace.");
    expect(prompt[2]!.content).toBe(first.output_text);
    expect(prompt[3]!.content).toBe("What is my name?");
    expect(second.usage!.input_tokens).toBeGreaterThan(first.usage!.input_tokens);

    const items = await acme.responses.inputItems.list(second.id);
    expect(items.data).toHaveLength(1);
    expect(items.data[0]).toMatchObject({
      type: "message",
      role: "user",
      content: [{ type: "input_text", text: "What is my name?" }],
    });
  });

  it("deletes a stored response; store: false keeps none", async () => {
    const r = await acme.responses.create({ model: MODEL, input: "Short-lived." }, tagged());
    await acme.responses.delete(r.id);
    expect((await failure(acme.responses.retrieve(r.id))).status).toBe(404);
    expect((await failure(acme.responses.delete(r.id))).status).toBe(404);
    const unstored = await acme.responses.create(
      { model: MODEL, input: "Not kept.", store: false },
      tagged(),
    );
    expect((await failure(acme.responses.retrieve(unstored.id))).status).toBe(404);
    const cont = await failure(
      acme.responses.create({ model: MODEL, input: "x", previous_response_id: unstored.id }),
    );
    expect(cont).toMatchObject({
      status: 404,
      error: { code: "response_not_found", param: "previous_response_id" },
    });
  });

  it("maps text.format and function tools onto the engine's chat request", async () => {
    const r = await acme.responses.create(
      {
        model: MODEL,
        input: "Give me JSON.",
        text: { format: { type: "json_schema", name: "answer", schema: { type: "object" }, strict: true } },
        tools: [{ type: "function", name: "lookup", parameters: { type: "object" }, strict: false }],
      },
      tagged(),
    );
    expect(r.text?.format).toMatchObject({ type: "json_schema", name: "answer" });
    expect(r.tools).toMatchObject([{ type: "function", name: "lookup" }]);
  });

  it("refuses tools it does not run, images, and client instructions where the tenant forbids them", async () => {
    const web = await failure(
      acme.responses.create({ model: MODEL, input: "news?", tools: [{ type: "web_search_preview" }] }),
    );
    expect(web).toMatchObject({ status: 400, error: { param: "tools[0].type" } });
    expect(web.error.message).toContain("web_search_preview");
    const img = await failure(
      acme.responses.create({
        model: MODEL,
        input: [
          {
            role: "user",
            content: [
              { type: "input_text", text: "what is this?" },
              { type: "input_image", image_url: "https://example.invalid/x.png", detail: "auto" },
            ],
          },
        ],
      }),
    );
    expect(img).toMatchObject({ status: 400, error: { param: "input[0].content[1]" } });
    expect(img.error.message).toContain("image");
    const initech = s.client(s.initech);
    const instr = await failure(
      initech.responses.create({ model: MODEL, input: "hi", instructions: "Be rude." }),
    );
    expect(instr).toMatchObject({ status: 400, error: { param: "instructions" } });
  });

  it("bills and audits every served Responses request exactly once, shown by the usage API", async () => {
    await until(
      async () => (await counts("usage_events")).size === served.length,
      "usage events written",
      60_000,
    );
    await until(async () => (await counts("audit_log")).size === served.length, "audit rows written", 60_000);
    const events = await counts("usage_events");
    const audits = await counts("audit_log");
    for (const id of served) {
      expect(events.get(id), id).toBe(1);
      expect(audits.get(id), id).toBe(1);
    }
    const { rows } = await s.db.query(
      "SELECT endpoint, prompt_tokens, completion_tokens FROM usage_events WHERE tenant = $1 AND request_id LIKE 'resp-test-%'",
      [s.acme],
    );
    expect(
      rows.every((r) => r.endpoint === "responses" && r.prompt_tokens > 0 && r.completion_tokens > 0),
    ).toBe(true);
    const start = Math.floor(Date.now() / 1000) - 3600;
    const usage = await fetch(
      `${s.url}/v1/organization/usage/completions?start_time=${start}&bucket_width=1d`,
      {
        headers: { authorization: `Bearer ${s.keys[s.acme]}` },
      },
    );
    const page = (await usage.json()) as { data: { results: { num_model_requests: number }[] }[] };
    const requests = page.data.flatMap((b) => b.results).reduce((n, r) => n + r.num_model_requests, 0);
    expect(requests).toBe(served.length);
  });
});

function textOf(r: OpenAI.Responses.Response): string {
  return r.output
    .flatMap((o) => (o.type === "message" ? o.content : []))
    .map((c) => (c.type === "output_text" ? c.text : ""))
    .join("");
}

/** Served request ids (the client's x-request-id) → how many rows of `table` carry them. */
async function counts(table: "usage_events" | "audit_log"): Promise<Map<string, number>> {
  const { rows } = await s.db.query<{ id: string; n: number }>(
    `SELECT substring(request_id from '^(resp-test-[0-9a-f-]{36})') AS id, count(*)::int AS n FROM ${table}
     WHERE tenant = $1 AND request_id LIKE 'resp-test-%' GROUP BY 1`,
    [s.acme],
  );
  return new Map(rows.map((r) => [r.id, r.n]));
}

async function auditedPrompt(requestId: string): Promise<{ role: string; content: string }[]> {
  let prompt: string | undefined;
  await until(async () => {
    const { rows } = await s.db.query(
      "SELECT prompt FROM audit_log WHERE tenant = $1 AND request_id LIKE $2",
      [s.acme, `${requestId}-%`],
    );
    prompt = rows[0]?.prompt;
    return prompt !== undefined;
  }, "the audit row");
  return JSON.parse(prompt!);
}
