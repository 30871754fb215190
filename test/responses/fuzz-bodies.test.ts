// No Responses body yields a 5xx (issue 17): 1,200 generated bodies of POST /v1/responses against
// a real router, engine simulator, Postgres, Redis and S3. Bodies are built from the API's own
// fields with values of every type (valid ones often, so many are served), input items and tools
// of known and unknown kinds, and hostile text (NUL, lone surrogates, chat-template markers).
// Every answer is below 500; a refusal is OpenAI's error JSON; a success is a Response (or a
// stream of Responses events).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anyText } from "../support/arbitrary-text.ts";
import { ADAPTER, MODEL, type ResponsesStack, startResponsesStack } from "./harness.ts";

const RUNS = 1_200;
let s: ResponsesStack;
let store: string;
let previous: string;

beforeAll(async () => {
  s = await startResponsesStack();
  const acme = s.client(s.acme);
  store = (await acme.vectorStores.create({ name: "fuzz" })).id;
  previous = (await acme.responses.create({ model: MODEL, input: "first turn" })).id;
}, 180_000);
afterAll(async () => {
  await s?.stop();
});

const text = fc.oneof(fc.string({ maxLength: 40 }), anyText(40));
const junk = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.integer(), text), { maxLength: 3 }),
  fc.dictionary(text, fc.oneof(fc.integer(), text), { maxKeys: 3 }),
);
/** A valid-looking value, or (one time in `odds`) a value of any type. */
const maybe = <T>(a: fc.Arbitrary<T>, odds = 2) =>
  fc.oneof({ arbitrary: a, weight: odds - 1 }, { arbitrary: junk, weight: 1 });

const part = fc.oneof(
  fc.record({ type: fc.constantFrom("input_text", "output_text"), text: maybe(text) }),
  fc.record({ type: fc.constantFrom("input_image", "input_file", "input_audio", "bogus"), image_url: text }),
  junk,
);
const item = fc.oneof(
  fc.record(
    {
      type: fc.constantFrom("message", undefined),
      role: maybe(fc.constantFrom("user", "assistant", "system", "developer", "tool")),
      content: fc.oneof(text, fc.array(part, { maxLength: 3 }), junk),
    },
    { requiredKeys: ["role", "content"] },
  ),
  fc.record({
    type: fc.constant("function_call"),
    call_id: maybe(text),
    name: maybe(text),
    arguments: maybe(text),
  }),
  fc.record({ type: fc.constant("function_call_output"), call_id: maybe(text), output: maybe(text) }),
  fc.record({ type: fc.constantFrom("item_reference", "reasoning"), id: text }),
  junk,
);
const tool = fc.oneof(
  fc.record({
    type: fc.constant("function"),
    name: maybe(fc.constantFrom("lookup", "get_weather", "bad name!")),
    parameters: maybe(fc.constant({ type: "object" })),
  }),
  fc.record(
    {
      type: fc.constant("file_search"),
      vector_store_ids: maybe(fc.array(fc.oneof(fc.constant("STORE"), text), { maxLength: 3 })),
      max_num_results: maybe(fc.integer({ min: -2, max: 60 })),
      filters: maybe(fc.constant({ type: "eq", key: "a", value: "b" })),
    },
    { requiredKeys: ["type"] },
  ),
  fc.record({
    type: fc.constantFrom("web_search", "code_interpreter", "computer_use_preview", "mcp", "nope"),
  }),
  junk,
);
const bodyWith = (odds: number) =>
  fc.record(
    {
      model: maybe(fc.constantFrom(MODEL, ADAPTER, "gpt-4o", ""), odds),
      input: fc.oneof(text, fc.array(item, { maxLength: 4 }), junk),
      instructions: maybe(text, odds),
      previous_response_id: maybe(fc.constantFrom("PREVIOUS", `resp_${"0".repeat(48)}`, "resp_x"), odds),
      max_output_tokens: maybe(fc.integer({ min: -1, max: 100_000 }), odds),
      temperature: maybe(fc.double({ min: -1, max: 3, noNaN: true }), odds),
      top_p: maybe(fc.double({ min: -0.5, max: 1.5, noNaN: true }), odds),
      stream: maybe(fc.boolean(), odds),
      store: maybe(fc.boolean(), odds),
      metadata: maybe(
        fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 40 }), { maxKeys: 20 }),
        odds,
      ),
      user: maybe(text, odds),
      text: maybe(
        fc.record({ format: maybe(fc.record({ type: fc.constantFrom("text", "json_object") }), odds) }),
        odds,
      ),
      tools: fc.oneof(fc.array(tool, { maxLength: 3 }), junk),
      tool_choice: maybe(fc.constantFrom("auto", "none", "required"), odds),
      include: maybe(
        fc.array(fc.constantFrom("file_search_call.results", "message.output_text.logprobs"), {
          maxLength: 2,
        }),
        odds,
      ),
      background: maybe(fc.boolean(), odds),
    },
    { requiredKeys: ["model", "input"] },
  );
// Well-formed bodies with hostile text in them: these are served.
const wellFormed = fc.record(
  {
    model: fc.constantFrom(MODEL, ADAPTER),
    input: fc.oneof(
      text,
      fc.array(fc.record({ role: fc.constantFrom("user", "assistant"), content: text }), {
        minLength: 1,
        maxLength: 3,
      }),
    ),
    instructions: text,
    previous_response_id: fc.constant("PREVIOUS"),
    max_output_tokens: fc.integer({ min: 1, max: 100_000 }),
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    stream: fc.boolean(),
    store: fc.boolean(),
    user: text,
    tools: fc.constant([{ type: "file_search", vector_store_ids: ["STORE"], max_num_results: 2 }]),
    include: fc.constant(["file_search_call.results"]),
    text: fc.constant({ format: { type: "json_object" } }),
  },
  { requiredKeys: ["model", "input"] },
);
// Wild bodies (any field may be of any type), nearly valid ones, and well-formed ones.
const body = fc.oneof(bodyWith(2), bodyWith(12), wellFormed);

describe("POST /v1/responses, fuzzed", () => {
  it(`answers ${RUNS} generated bodies without a 5xx, refusals in OpenAI's error shape`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.option(fc.dictionary(text, junk, { maxKeys: 2 }), { freq: 10 }),
        async (b, extra) => {
          // Now and then unknown fields too.
          const raw = JSON.stringify({ ...b, ...extra })
            .replaceAll('"STORE"', JSON.stringify(store))
            .replaceAll('"PREVIOUS"', JSON.stringify(previous));
          const r = await fetch(`${s.url}/v1/responses`, {
            method: "POST",
            headers: { authorization: `Bearer ${s.keys[s.acme]}`, "content-type": "application/json" },
            body: raw,
          });
          const answer = await r.text();
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          const what = `${r.status} for ${raw.slice(0, 300)} → ${answer.slice(0, 300)}`;
          expect(r.status, what).toBeLessThan(500);
          if (r.status >= 400) {
            const e = JSON.parse(answer).error;
            expect(typeof e.message, what).toBe("string");
            expect(typeof e.type, what).toBe("string");
            expect(e.param === null || typeof e.param === "string", what).toBe(true);
          } else if (r.headers.get("content-type")?.startsWith("text/event-stream")) {
            expect(answer, what).toContain("event: response.completed");
          } else {
            expect(JSON.parse(answer), what).toMatchObject({ object: "response" });
          }
        },
      ),
      { numRuns: RUNS },
    );
    // Both kinds of answer were exercised: refusals and served responses.
    const served = statuses.get(200) ?? 0;
    const refused = statuses.get(400) ?? 0;
    expect(served, JSON.stringify([...statuses])).toBeGreaterThan(20);
    expect(refused, JSON.stringify([...statuses])).toBeGreaterThan(RUNS / 4);
  }, 600_000);
});
