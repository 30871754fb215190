// Another tenant is refused on every id the Responses API takes (issue 17): a response id
// (GET, DELETE, input_items), a vector store id in file_search and a previous_response_id.
// Each answer is exactly the answer an id that does not exist gets, and nothing of the owner's
// changes.
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, MODEL, type ResponsesStack, startResponsesStack } from "./harness.ts";

let s: ResponsesStack;
let acme: OpenAI;
let initech: OpenAI;
let acmeResponse: string;
let acmeStore: string;
const UNKNOWN_RESPONSE = `resp_${"0".repeat(48)}`;
const UNKNOWN_STORE = `vs_${"0".repeat(24)}`;

beforeAll(async () => {
  s = await startResponsesStack();
  acme = s.client(s.acme);
  initech = s.client(s.initech);
  acmeResponse = (await acme.responses.create({ model: MODEL, input: "acme's secret plan" })).id;
  acmeStore = (await acme.vectorStores.create({ name: "acme only" })).id;
}, 180_000);
afterAll(async () => {
  await s?.stop();
});

/** The failure with the id replaced, so another tenant's id and an unknown id compare equal. */
async function refusal(p: Promise<unknown>, id: string) {
  const f = await failure(p);
  return JSON.parse(JSON.stringify(f).replaceAll(id, "<id>"));
}

describe("the Responses API across tenants", () => {
  it("answers another tenant's response id exactly like an unknown one", async () => {
    const calls: [string, (id: string) => Promise<unknown>][] = [
      ["retrieve", (id) => initech.responses.retrieve(id)],
      ["delete", (id) => initech.responses.delete(id)],
      ["input_items", (id) => initech.responses.inputItems.list(id)],
      [
        "previous_response_id",
        (id) => initech.responses.create({ model: MODEL, input: "hi", previous_response_id: id }),
      ],
    ];
    for (const [what, call] of calls) {
      const foreign = await refusal(call(acmeResponse), acmeResponse);
      const unknown = await refusal(call(UNKNOWN_RESPONSE), UNKNOWN_RESPONSE);
      expect(foreign, what).toEqual(unknown);
      expect(foreign.status, what).toBe(404);
    }
    // The owner still has it, unchanged.
    const mine = await acme.responses.retrieve(acmeResponse);
    expect(mine.output_text.length).toBeGreaterThan(0);
  });

  it("answers another tenant's vector store id in file_search exactly like an unknown one", async () => {
    const search = (id: string) =>
      initech.responses.create({
        model: MODEL,
        input: "plans?",
        tools: [{ type: "file_search", vector_store_ids: [id] }],
      });
    const foreign = await refusal(search(acmeStore), acmeStore);
    const unknown = await refusal(search(UNKNOWN_STORE), UNKNOWN_STORE);
    expect(foreign).toEqual(unknown);
    expect(foreign).toMatchObject({ status: 404, error: { code: "vector_store_not_found" } });
  });

  it("keeps the owner's rows out of the other tenant's reads even under row-level security", async () => {
    const { rows } = await s.db.query("SELECT tenant FROM responses WHERE id = $1", [acmeResponse]);
    expect(rows).toEqual([{ tenant: s.acme }]);
    const client = await s.db.connect();
    try {
      await client.query("BEGIN READ ONLY");
      await client.query("SET LOCAL ROLE loraplex_tenant_reader");
      await client.query("SELECT set_config('app.tenant', $1, true)", [s.initech]);
      // No WHERE tenant: the policy alone hides acme's response.
      const seen = await client.query("SELECT id FROM responses WHERE id = $1", [acmeResponse]);
      expect(seen.rows).toEqual([]);
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
  });
});
