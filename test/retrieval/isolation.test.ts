// The tenant gate on every vector store endpoint: with initech's key, acme's store, file and
// batch ids answer exactly like ids that do not exist (same status, same error code), nothing of
// acme's changes, and initech's searches never see acme's chunks — even when both tenants
// stored the same text. Then usage and costs: searches and embedding batches are usage events,
// /v1/organization/usage/vector_stores reports stored bytes and calls, costs bill storage.
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/stack.ts";
import { failure, MODEL, type RetrievalStack, startRetrievalStack, upload } from "./harness.ts";

let s: RetrievalStack;
let acme: OpenAI;
let initech: OpenAI;

beforeAll(async () => {
  s = await startRetrievalStack({
    prices: {
      models: { [MODEL]: { input: 1, output: 2 } },
      retrieval: { per1kSearches: 2.5, perGbDay: 100 },
    },
  });
  acme = s.client(s.acme);
  initech = s.client(s.initech);
});
afterAll(async () => {
  await s?.stop();
});

/** The failure with ids blanked out: messages name the id asked for, which differs. */
const shape = (f: { status: number; error: Record<string, unknown> }) => ({
  ...f,
  error: {
    ...f.error,
    message: String(f.error.message).replace(/(vs|vsfb)_[a-f0-9]{24}|file-[a-f0-9]{24}/g, "<id>"),
  },
});

const UNKNOWN = {
  vs: "vs_000000000000000000000000",
  file: "file-000000000000000000000000",
  batch: "vsfb_000000000000000000000000",
};

describe("vector stores across tenants", () => {
  it("answers another tenant's ids on every endpoint exactly like unknown ids", async () => {
    const store = await acme.vectorStores.create({ name: "acme secrets" });
    const file = await upload(acme, "secret.md", "The acme launch code is falcon seven.");
    await acme.vectorStores.files.createAndPoll(store.id, { file_id: file.id, attributes: { k: "v" } });
    const batch = await acme.vectorStores.fileBatches.createAndPoll(store.id, {
      files: [{ file_id: file.id, attributes: { k: "v" } }],
    });
    const theirs = { vs: store.id, file: file.id, batch: batch.id };

    type Call = (ids: typeof UNKNOWN) => Promise<unknown>;
    const calls: Record<string, Call> = {
      retrieve: (i) => initech.vectorStores.retrieve(i.vs),
      update: (i) => initech.vectorStores.update(i.vs, { name: "mine now" }),
      delete: (i) => initech.vectorStores.delete(i.vs),
      search: (i) => initech.vectorStores.search(i.vs, { query: "launch code" }),
      "files.create": (i) => initech.vectorStores.files.create(i.vs, { file_id: i.file }),
      "files.list": (i) => initech.vectorStores.files.list(i.vs),
      "files.retrieve": (i) => initech.vectorStores.files.retrieve(i.file, { vector_store_id: i.vs }),
      "files.update": (i) =>
        initech.vectorStores.files.update(i.file, { vector_store_id: i.vs, attributes: { k: "x" } }),
      "files.delete": (i) => initech.vectorStores.files.delete(i.file, { vector_store_id: i.vs }),
      "files.content": (i) => initech.vectorStores.files.content(i.file, { vector_store_id: i.vs }),
      "fileBatches.create": (i) => initech.vectorStores.fileBatches.create(i.vs, { file_ids: [i.file] }),
      "fileBatches.retrieve": (i) =>
        initech.vectorStores.fileBatches.retrieve(i.batch, { vector_store_id: i.vs }),
      "fileBatches.cancel": (i) =>
        initech.vectorStores.fileBatches.cancel(i.batch, { vector_store_id: i.vs }),
      "fileBatches.listFiles": (i) =>
        initech.vectorStores.fileBatches.listFiles(i.batch, { vector_store_id: i.vs }),
    };
    for (const [name, call] of Object.entries(calls)) {
      const other = await failure(call(theirs));
      const unknown = await failure(call(UNKNOWN));
      expect(other.status, name).toBe(404);
      expect(shape(other), name).toEqual(shape(unknown));
    }
    // initech's own store with acme's file id: the file is acme's, so it is unknown here too.
    const own = await initech.vectorStores.create({ name: "initech" });
    const attach = await failure(initech.vectorStores.files.create(own.id, { file_id: file.id }));
    const attachUnknown = await failure(initech.vectorStores.files.create(own.id, { file_id: UNKNOWN.file }));
    expect(attach.status).toBe(404);
    expect(shape(attach)).toEqual(shape(attachUnknown));
    const batchTheirs = await failure(
      initech.vectorStores.fileBatches.create(own.id, { file_ids: [file.id] }),
    );
    expect(batchTheirs.status).toBe(404);
    // Another store's batch id under initech's own store is unknown as well.
    const crossBatch = await failure(
      initech.vectorStores.fileBatches.retrieve(batch.id, { vector_store_id: own.id }),
    );
    expect(crossBatch.status).toBe(404);

    // Nothing of acme's changed, and lists show each tenant only its own.
    const still = await acme.vectorStores.retrieve(store.id);
    expect(still).toMatchObject({ name: "acme secrets", file_counts: { completed: 1, total: 1 } });
    const f = await acme.vectorStores.files.retrieve(file.id, { vector_store_id: store.id });
    expect(f.attributes).toEqual({ k: "v" });
    const initechStores = [];
    for await (const x of initech.vectorStores.list()) initechStores.push(x.id);
    expect(initechStores).toEqual([own.id]);
    // A list cursor from the other tenant pages nothing of theirs.
    const cursor = await initech.vectorStores.list({ after: store.id });
    expect(cursor.data.map((x) => x.id)).not.toContain(store.id);
  });

  it("never returns another tenant's chunks, even for identical text", async () => {
    const text = "Quarterly revenue grew by twelve percent in the northern region.";
    const a = await acme.vectorStores.create({ name: "a" });
    const b = await initech.vectorStores.create({ name: "b" });
    const fa = await upload(acme, "acme.txt", `${text} acme only`);
    const fb = await upload(initech, "initech.txt", `${text} initech only`);
    await acme.vectorStores.files.createAndPoll(a.id, { file_id: fa.id });
    await initech.vectorStores.files.createAndPoll(b.id, { file_id: fb.id });
    const hits = await initech.vectorStores.search(b.id, { query: text, max_num_results: 50 });
    expect(hits.data.map((h) => h.file_id)).toEqual([fb.id]);
    const hybrid = await initech.vectorStores.search(b.id, {
      query: "acme only",
      max_num_results: 50,
      ranking_options: { ranker: "hybrid" as never },
    });
    expect(hybrid.data.every((h) => h.file_id === fb.id)).toBe(true);
  });

  it("meters searches and embedding batches, reports stored bytes, and bills storage per GB-day", async () => {
    const store = await initech.vectorStores.create({ name: "metered" });
    const file = await upload(initech, "m.md", "metering words ".repeat(200));
    await initech.vectorStores.files.createAndPoll(store.id, { file_id: file.id });
    for (let i = 0; i < 3; i++) await initech.vectorStores.search(store.id, { query: "metering" });
    const stored = (await initech.vectorStores.retrieve(store.id)).usage_bytes;
    const day = Math.floor(Date.now() / 86_400_000) * 86_400;
    const get = async (path: string) => {
      const r = await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${s.keys[s.initech]}` } });
      expect(r.status, path).toBe(200);
      return (await r.json()) as { data: { start_time: number; results: Record<string, unknown>[] }[] };
    };
    type Result = { num_retrieval_calls: number; usage_bytes: number; num_embedding_batches: number };
    let today: Result | undefined;
    await until(
      async () => {
        const page = await get(`/v1/organization/usage/vector_stores?start_time=${day}&limit=1`);
        today = page.data.find((b) => b.start_time === day)?.results[0] as Result | undefined;
        return (today?.num_retrieval_calls ?? 0) >= 5; // 3 here + 2 in the test before
      },
      "retrieval usage events",
      20_000,
    );
    expect(today).toMatchObject({ object: "organization.usage.vector_stores.result", project_id: null });
    expect(today!.usage_bytes).toBeGreaterThanOrEqual(stored);
    expect(today!.num_embedding_batches).toBeGreaterThanOrEqual(2);

    const costs = await get(`/v1/organization/costs?start_time=${day}&limit=1&group_by=line_item`);
    const lines = costs.data[0]!.results as { line_item: string; amount: { value: number } }[];
    const storage = lines.find((l) => l.line_item === "vector store storage");
    expect(storage!.amount.value).toBeCloseTo((today!.usage_bytes / 1e9) * 100, 6);
    // Five searches at 2.5 USD per 1,000 plus their query tokens, at least.
    const searchCost = lines
      .filter((l) => l.line_item === `${MODEL}, input`)
      .reduce((n, l) => n + l.amount.value, 0);
    expect(searchCost).toBeGreaterThanOrEqual(5 * 0.0025);

    const acmeUsage = await fetch(`${s.url}/v1/organization/usage/vector_stores?start_time=${day}&limit=1`, {
      headers: { authorization: `Bearer ${s.keys[s.acme]}` },
    });
    const acmeToday = ((await acmeUsage.json()) as { data: { results: Result[] }[] }).data[0]!.results[0]!;
    expect(acmeToday.num_retrieval_calls).toBe(0);

    const summary = (await (
      await fetch(`${s.url}/v1/dashboard/summary`, {
        headers: { authorization: `Bearer ${s.keys[s.initech]}` },
      })
    ).json()) as { retrieval: { searches_today: number; stored_bytes: number } };
    expect(summary.retrieval.searches_today).toBeGreaterThanOrEqual(5);
    expect(summary.retrieval.stored_bytes).toBeGreaterThanOrEqual(stored);
  });
});
