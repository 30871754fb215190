// The vector store API through the official `openai` client against a real router: a store is
// created, files are uploaded (Markdown, HTML, JSON, text), attached and polled to `completed`
// by the ingestion worker (which embeds through the tenant's pool), and search returns the
// right chunk first, with attribute filters, score thresholds and static chunking honoured.
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, type RetrievalStack, startRetrievalStack, upload } from "./harness.ts";

let s: RetrievalStack;
let acme: OpenAI;

const DOCS = {
  "passwords.md":
    "# Resetting your password\n\nOpen Settings, choose Security and press Reset password. " +
    "We email a reset link that stays valid for one hour.",
  "billing.html":
    "<html><head><style>p{color:red}</style><script>var secret = 1;</script></head><body>" +
    "<h1>Invoices and billing</h1><p>Invoices are issued on the first day of each month &amp; " +
    "paid by card or bank transfer.</p></body></html>",
  "shipping.json": JSON.stringify({
    topic: "shipping",
    text: "Parcels ship within two business days; international delivery takes one to three weeks.",
  }),
  "holidays.txt": "The office closes for public holidays: new year, spring festival and the summer break.",
};

beforeAll(async () => {
  s = await startRetrievalStack();
  acme = s.client(s.acme);
});
afterAll(async () => {
  await s?.stop();
});

describe("vector stores through the openai client", () => {
  it("creates a store, ingests files to completed and finds the right chunk first", async () => {
    const store = await acme.vectorStores.create({ name: "help center", metadata: { team: "support" } });
    expect(store).toMatchObject({ object: "vector_store", name: "help center", status: "completed" });
    expect(store.id).toMatch(/^vs_/);
    const ids: Record<string, string> = {};
    for (const [name, text] of Object.entries(DOCS)) ids[name] = (await upload(acme, name, text)).id;

    const one = await acme.vectorStores.files.createAndPoll(store.id, {
      file_id: ids["passwords.md"]!,
      attributes: { section: "account", year: 2025 },
    });
    expect(one).toMatchObject({ status: "completed", last_error: null, vector_store_id: store.id });
    expect(one.usage_bytes).toBeGreaterThan(0);
    const batch = await acme.vectorStores.fileBatches.createAndPoll(store.id, {
      files: [
        { file_id: ids["billing.html"]!, attributes: { section: "billing", year: 2024 } },
        { file_id: ids["shipping.json"]!, attributes: { section: "orders", year: 2023 } },
        { file_id: ids["holidays.txt"]!, attributes: { section: "company", year: 2025 } },
      ],
    });
    expect(batch).toMatchObject({ status: "completed", file_counts: { completed: 3, total: 3, failed: 0 } });
    const listed = [];
    for await (const f of acme.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: store.id }))
      listed.push(f.id);
    expect(listed.sort()).toEqual([ids["billing.html"], ids["shipping.json"], ids["holidays.txt"]].sort());

    const after = await acme.vectorStores.retrieve(store.id);
    expect(after.file_counts).toMatchObject({ completed: 4, total: 4, in_progress: 0 });
    expect(after.usage_bytes).toBeGreaterThan(0);

    const cases: [string, string][] = [
      ["how do I reset my password", "passwords.md"],
      ["when are invoices issued and how are they paid", "billing.html"],
      ["how long does international delivery of parcels take", "shipping.json"],
      ["which public holidays is the office closed", "holidays.txt"],
    ];
    for (const [query, file] of cases) {
      const page = await acme.vectorStores.search(store.id, { query, max_num_results: 4 });
      expect(page.data[0], query).toMatchObject({ file_id: ids[file], filename: file });
      const scores = page.data.map((d) => d.score);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
    }
    // HTML loses its tags, scripts and styles; entities are decoded.
    const html = await acme.vectorStores.search(store.id, { query: "invoices billing", max_num_results: 1 });
    const text = html.data[0]!.content[0]!.text;
    expect(text).toContain("first day of each month & paid");
    expect(text).not.toMatch(/secret|color|<p>/);
    expect(html.data[0]!.attributes).toEqual({ section: "billing", year: 2024 });

    // Filters on attributes: comparison and compound.
    const filtered = await acme.vectorStores.search(store.id, {
      query: "how do I reset my password",
      filters: {
        type: "and",
        filters: [
          { type: "gte", key: "year", value: 2024 },
          { type: "ne", key: "section", value: "account" },
        ],
      },
    });
    expect(filtered.data.map((d) => d.filename).sort()).toEqual(["billing.html", "holidays.txt"]);
    const inList = await acme.vectorStores.search(store.id, {
      query: "anything",
      filters: { type: "eq", key: "section", value: "orders" },
    });
    expect(inList.data.map((d) => d.filename)).toEqual(["shipping.json"]);
    const high = await acme.vectorStores.search(store.id, {
      query: "how do I reset my password",
      ranking_options: { score_threshold: 0.99 },
    });
    expect(high.data).toEqual([]);
  });

  it("chunks statically with overlap and serves the parsed content", async () => {
    const words = Array.from({ length: 500 }, (_, i) => `w${i}`).join(" ");
    const file = await upload(acme, "long.txt", words);
    const store = await acme.vectorStores.create({ name: "chunks" });
    const f = await acme.vectorStores.files.createAndPoll(store.id, {
      file_id: file.id,
      chunking_strategy: { type: "static", static: { max_chunk_size_tokens: 200, chunk_overlap_tokens: 50 } },
    });
    expect(f.status).toBe("completed");
    expect(f.chunking_strategy).toEqual({
      type: "static",
      static: { max_chunk_size_tokens: 200, chunk_overlap_tokens: 50 },
    });
    const parts = [];
    for await (const c of acme.vectorStores.files.content(file.id, { vector_store_id: store.id }))
      parts.push(c.text);
    // 500 words, 200 a chunk, a new chunk every 150: starts at 0, 150, 300.
    expect(parts).toHaveLength(3);
    expect(parts[1]!.split(" ")[0]).toBe("w150");
    expect(parts[0]!.split(" ").at(-1)).toBe("w199");
    const hit = await acme.vectorStores.search(store.id, { query: "w420", max_num_results: 1 });
    expect(hit.data[0]!.content[0]!.text).toContain("w420");
  });

  it("fails unsupported and invalid files with last_error instead of retrying them", async () => {
    const store = await acme.vectorStores.create({ name: "bad files" });
    const bin = await upload(acme, "image.png", "\x89PNG not really");
    const badJson = await upload(acme, "broken.json", "{not json");
    const a = await acme.vectorStores.files.createAndPoll(store.id, { file_id: bin.id });
    expect(a.status).toBe("failed");
    expect(a.last_error?.code).toBe("unsupported_file");
    const b = await acme.vectorStores.files.createAndPoll(store.id, { file_id: badJson.id });
    expect(b.status).toBe("failed");
    expect(b.last_error).toMatchObject({ code: "invalid_file" });
    expect((await acme.vectorStores.retrieve(store.id)).file_counts).toMatchObject({ failed: 2, total: 2 });
  });

  it("updates, lists, detaches and deletes", async () => {
    const a = await acme.vectorStores.create({
      name: "a",
      expires_after: { anchor: "last_active_at", days: 7 },
    });
    expect(a.expires_at).toBe((a.last_active_at ?? 0) + 7 * 86_400);
    const b = await acme.vectorStores.create({ name: "b" });
    const renamed = await acme.vectorStores.update(a.id, { name: "a2", metadata: { k: "v" } });
    expect(renamed).toMatchObject({ name: "a2", metadata: { k: "v" } });
    const page = await acme.vectorStores.list({ limit: 1, order: "desc" });
    expect(page.data.map((x) => x.id)).toEqual([b.id]);
    const next = await acme.vectorStores.list({ limit: 1, order: "desc", after: b.id });
    expect(next.data.map((x) => x.id)).toEqual([a.id]);

    const file = await upload(acme, "note.md", "a short note about kites");
    const attached = await acme.vectorStores.files.createAndPoll(b.id, {
      file_id: file.id,
      attributes: { x: 1 },
    });
    expect(attached.status).toBe("completed");
    const upd = await acme.vectorStores.files.update(file.id, {
      vector_store_id: b.id,
      attributes: { x: 2 },
    });
    expect(upd.attributes).toEqual({ x: 2 });
    expect((await acme.vectorStores.files.retrieve(file.id, { vector_store_id: b.id })).attributes).toEqual({
      x: 2,
    });
    const del = await acme.vectorStores.files.delete(file.id, { vector_store_id: b.id });
    expect(del).toMatchObject({ id: file.id, deleted: true });
    expect((await acme.vectorStores.retrieve(b.id)).usage_bytes).toBe(0);
    expect(await acme.vectorStores.delete(b.id)).toMatchObject({ id: b.id, deleted: true });
    expect((await failure(acme.vectorStores.retrieve(b.id))).status).toBe(404);
  });

  it("creates a store with files, and cancels a batch", async () => {
    const a = await upload(acme, "a.md", "alpha particles and beta decay");
    const b = await upload(acme, "b.md", "gamma rays from distant galaxies");
    const store = await acme.vectorStores.create({ name: "with files", file_ids: [a.id, b.id] });
    expect(store.file_counts.total).toBe(2);
    let done = store;
    for (let i = 0; i < 200 && done.file_counts.completed < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      done = await acme.vectorStores.retrieve(store.id);
    }
    expect(done).toMatchObject({ status: "completed", file_counts: { completed: 2, total: 2 } });
    const hit = await acme.vectorStores.search(store.id, { query: "gamma rays", max_num_results: 1 });
    expect(hit.data[0]?.file_id).toBe(b.id);

    const c = await upload(acme, "c.md", "delta wing aircraft");
    const batch = await acme.vectorStores.fileBatches.create(store.id, { file_ids: [c.id] });
    const cancelled = await acme.vectorStores.fileBatches.cancel(batch.id, { vector_store_id: store.id });
    expect(cancelled.status).toBe("cancelled");
    // The file was either ingested before the cancel or is cancelled; never left in progress.
    const f = await acme.vectorStores.files.retrieve(c.id, { vector_store_id: store.id });
    expect(["completed", "cancelled"]).toContain(f.status);
    const refused = await failure(
      acme.vectorStores.create({ name: "bad", file_ids: ["file-000000000000000000000000"] }),
    );
    expect(refused.status).toBe(404);
    const names = [];
    for await (const x of acme.vectorStores.list()) names.push(x.name);
    expect(names).not.toContain("bad");
  });

  it("answers bad requests with OpenAI-shaped 400s and malformed ids with 404s", async () => {
    const store = await acme.vectorStores.create({ name: "errors" });
    const rw = await failure(acme.vectorStores.search(store.id, { query: "x", rewrite_query: true }));
    expect(rw).toMatchObject({ status: 400, error: { param: "rewrite_query" } });
    const badFilter = await failure(
      acme.vectorStores.search(store.id, {
        query: "x",
        filters: { type: "eq", key: "a", value: ["x"] } as never,
      }),
    );
    expect(badFilter.status).toBe(400);
    const tooMany = await failure(acme.vectorStores.search(store.id, { query: "x", max_num_results: 51 }));
    expect(tooMany).toMatchObject({ status: 400, error: { param: "max_num_results" } });
    const chunking = await failure(
      acme.vectorStores.files.create(store.id, {
        file_id: "file-000000000000000000000000",
        chunking_strategy: {
          type: "static",
          static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 80 },
        },
      }),
    );
    expect(chunking.status).toBe(400);
    const unknownFile = await failure(
      acme.vectorStores.files.create(store.id, { file_id: "file-000000000000000000000000" }),
    );
    expect(unknownFile).toMatchObject({ status: 404, error: { code: "file_not_found" } });
    for (const bad of ["vs_nothex", "x'; DROP TABLE vector_stores;--", "vs_"]) {
      expect((await failure(acme.vectorStores.retrieve(bad))).status).toBe(404);
    }
    const nul = await failure(acme.vectorStores.create({ name: "a\u0000b" }));
    expect(nul).toMatchObject({ status: 400, error: { param: "name" } });
    const res = await fetch(`${s.url}/v1/vector_stores`, {
      method: "POST",
      headers: { authorization: `Bearer ${s.keys[s.acme]}`, "content-type": "application/json" },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
  });
});
