// Ingestion when the engine is away: the BullMQ task fails (a failed embedding batch is metered
// as such), is retried with backoff, and completes once the engine is back; when it stays away
// past the last attempt the file ends `failed` with last_error server_error — never in_progress
// for ever.
import type OpenAI from "openai";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { until } from "../support/stack.ts";
import { type RetrievalStack, startRetrievalStack, upload } from "./harness.ts";

let s: RetrievalStack;
let acme: OpenAI;
let db: pg.Pool;

beforeAll(async () => {
  s = await startRetrievalStack({
    env: { LORAPLEX_RETRIEVAL_ATTEMPTS: "6", LORAPLEX_RETRIEVAL_BACKOFF_MS: "300" },
  });
  acme = s.client(s.acme);
  db = new pg.Pool({ connectionString: loadServiceConfig().DATABASE_URL, max: 1 });
});
afterAll(async () => {
  await db?.end();
  await s?.stop();
});

const failedBatches = async () =>
  Number(
    (
      await db.query(
        `SELECT count(*) AS n FROM "${s.stack.schema}".usage_events
         WHERE tenant = $1 AND endpoint = 'vector_stores.embeddings' AND status = 'upstream_error'`,
        [s.acme],
      )
    ).rows[0].n,
  );

describe("ingestion retries", () => {
  it("retries while the engine is down and completes when it is back", async () => {
    const store = await acme.vectorStores.create({ name: "retry" });
    const file = await upload(acme, "doc.txt", "a document about lighthouses and foghorns");
    await s.stack.replica.stopEngine();
    const attached = await acme.vectorStores.files.create(store.id, { file_id: file.id });
    expect(attached.status).toBe("in_progress");
    await until(async () => (await failedBatches()) >= 1, "a failed embedding batch", 30_000);
    expect((await acme.vectorStores.files.retrieve(file.id, { vector_store_id: store.id })).status).toBe(
      "in_progress",
    );
    await s.stack.replica.startEngine();
    const done = await acme.vectorStores.files.poll(store.id, file.id, { pollIntervalMs: 200 });
    expect(done).toMatchObject({ status: "completed", last_error: null });
    const hit = await acme.vectorStores.search(store.id, { query: "lighthouses" });
    expect(hit.data[0]?.file_id).toBe(file.id);
  });

  it("fails the file with server_error once the retries are spent", async () => {
    const store = await acme.vectorStores.create({ name: "give up" });
    const file = await upload(acme, "doc2.txt", "a document nobody can embed today");
    await s.stack.replica.stopEngine();
    try {
      const f = await acme.vectorStores.files.createAndPoll(
        store.id,
        { file_id: file.id },
        { pollIntervalMs: 200 },
      );
      expect(f.status).toBe("failed");
      expect(f.last_error?.code).toBe("server_error");
      expect(f.last_error?.message).toMatch(/6 attempts/);
    } finally {
      await s.stack.replica.startEngine();
    }
  });
});
