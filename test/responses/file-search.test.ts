// The file_search tool through the official `openai` client: the router searches the caller's own
// vector store, puts the excerpts (with file names) right after the tenant's system prompt,
// returns the file_search_call item (results only when included) and file_citation annotations,
// and meters each search as one retrieval call, beside the one Responses usage event.
import { randomUUID } from "node:crypto";
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/stack.ts";
import {
  failure,
  MODEL,
  type ResponsesStack,
  SYSTEM_PROMPT,
  startResponsesStack,
  upload,
} from "./harness.ts";

let s: ResponsesStack;
let acme: OpenAI;
let store: string;
const files: Record<string, string> = {};

beforeAll(async () => {
  s = await startResponsesStack();
  acme = s.client(s.acme);
  store = (await acme.vectorStores.create({ name: "handbook" })).id;
  const docs = {
    "returns.md":
      "# Returns\n\nUnused items can be returned within 30 days for a full refund to the original card.",
    "holidays.txt": "The office closes for public holidays: new year, spring festival and the summer break.",
  };
  for (const [name, text] of Object.entries(docs)) {
    files[name] = (await upload(acme, name, text)).id;
    await acme.vectorStores.files.createAndPoll(store, { file_id: files[name]! });
  }
}, 180_000);
afterAll(async () => {
  await s?.stop();
});

describe("file_search in the Responses API", () => {
  it("answers from the tenant's own store with the search call, results and citations", async () => {
    const requestId = `fs-${randomUUID()}`;
    const r = await acme.responses.create(
      {
        model: MODEL,
        input: "How many days do I have to return unused items?",
        tools: [{ type: "file_search", vector_store_ids: [store], max_num_results: 1 }],
        include: ["file_search_call.results"],
      },
      { headers: { "x-request-id": requestId } },
    );
    const [call, message] = r.output;
    expect(call).toMatchObject({
      type: "file_search_call",
      status: "completed",
      queries: ["How many days do I have to return unused items?"],
      results: [{ file_id: files["returns.md"], filename: "returns.md" }],
    });
    expect((call as OpenAI.Responses.ResponseFileSearchToolCall).results?.[0]?.text).toContain("30 days");
    expect(message).toMatchObject({ type: "message", role: "assistant" });
    const text = (message as OpenAI.Responses.ResponseOutputMessage).content[0]!;
    expect(text).toMatchObject({
      type: "output_text",
      annotations: [{ type: "file_citation", file_id: files["returns.md"], filename: "returns.md" }],
    });

    // The engine saw the tenant's system prompt first, then the excerpt with its file name.
    const { rows } = await waitRows(
      "SELECT prompt FROM audit_log WHERE tenant = $1 AND request_id LIKE $2",
      [s.acme, `${requestId}-%`],
      1,
    );
    const prompt = JSON.parse(rows[0]!.prompt) as { role: string; content: string }[];
    expect(prompt[0]).toEqual({ role: "system", content: SYSTEM_PROMPT });
    expect(prompt[1]!.role).toBe("system");
    expect(prompt[1]!.content).toContain("File: returns.md");
    expect(prompt[1]!.content).toContain("within 30 days");
    expect(prompt[2]).toEqual({ role: "user", content: "How many days do I have to return unused items?" });

    // One Responses event and one retrieval call (the search), nothing counted twice.
    const events = await waitRows(
      "SELECT endpoint FROM usage_events WHERE tenant = $1 AND (request_id LIKE $2 OR endpoint = 'vector_stores.search') ORDER BY endpoint",
      [s.acme, `${requestId}-%`],
      2,
    );
    expect(events.rows.map((x) => x.endpoint)).toEqual(["responses", "vector_stores.search"]);
  });

  it("leaves results out unless included, and streams the search call before the text", async () => {
    const stream = acme.responses.stream({
      model: MODEL,
      input: "When is the office closed for holidays?",
      tools: [{ type: "file_search", vector_store_ids: [store], max_num_results: 2 }],
    });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);
    const final = await stream.finalResponse();
    expect(types.slice(0, 7)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.file_search_call.in_progress",
      "response.file_search_call.searching",
      "response.file_search_call.completed",
      "response.output_item.done",
    ]);
    expect(final.output[0]).toMatchObject({ type: "file_search_call", results: null });
    const message = final.output[1] as OpenAI.Responses.ResponseOutputMessage;
    const cited = (message.content[0] as OpenAI.Responses.ResponseOutputText).annotations.map(
      (a) => (a as { filename: string }).filename,
    );
    expect(cited).toContain("holidays.txt");
    const searches = await waitRows(
      "SELECT 1 FROM usage_events WHERE tenant = $1 AND endpoint = 'vector_stores.search'",
      [s.acme],
      2,
    );
    expect(searches.rows).toHaveLength(2);
  });

  it("refuses an unknown or malformed vector store id with a 404", async () => {
    for (const id of ["vs_0123456789abcdef01234567", "not-a-store"]) {
      const err = await failure(
        acme.responses.create({
          model: MODEL,
          input: "hi",
          tools: [{ type: "file_search", vector_store_ids: [id] }],
        }),
      );
      expect(err).toMatchObject({ status: 404, error: { code: "vector_store_not_found" } });
    }
  });
});

async function waitRows(sql: string, params: unknown[], n: number) {
  let result = await s.db.query(sql, params);
  await until(async () => {
    result = await s.db.query(sql, params);
    return result.rows.length >= n;
  }, sql);
  return result;
}
