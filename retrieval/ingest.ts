// Ingestion of one attached file: read its bytes from S3, extract text, chunk, embed in
// batches through the tenant's own pool, and store the chunks with the file's status
// `completed` in one transaction. A file whose content is at fault fails at once with
// last_error (unsupported_file, invalid_file); any other failure is retried by the queue and
// fails with server_error once the retries are spent. A file detached or cancelled meanwhile is
// left alone: the status check and the insert happen under the file row's lock.
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type pg from "pg";
import { fileKey } from "../core/storage-layout.ts";
import { type ChunkingStrategy, chunkText } from "./chunking.ts";
import { extractText, IngestError } from "./extract.ts";
import { ensureHnswIndex, MAX_DIMS } from "./hnsw-index.ts";
import type { LastError } from "./objects.ts";
import { recordStoredBytes } from "./stored-bytes.ts";

export type IngestTask = { tenant: string; vectorStoreId: string; fileId: string };

/** Embeds texts with the tenant's embedding model; the vectors in input order. */
export type Embedder = (tenant: string, inputs: string[]) => Promise<{ vectors: number[][]; tokens: number }>;

export type IngestDeps = {
  pool: pg.Pool;
  s3: S3Client;
  bucket: string;
  embed: Embedder;
  /** Inputs per /v1/embeddings call (default 64). */
  batchSize?: number;
};

export type IngestResult = "completed" | "failed" | "skipped";

const INSERT_ROWS = 500;

export async function ingestFile(d: IngestDeps, t: IngestTask): Promise<IngestResult> {
  const { rows } = await d.pool.query<{
    status: string;
    chunking_strategy: ChunkingStrategy;
    filename: string | null;
  }>(
    `SELECT f.status, f.chunking_strategy, fl.filename FROM vector_store_files f
     LEFT JOIN files fl ON fl.tenant = f.tenant AND fl.id = f.file_id
     WHERE f.tenant = $1 AND f.vector_store_id = $2 AND f.file_id = $3`,
    [t.tenant, t.vectorStoreId, t.fileId],
  );
  const row = rows[0];
  if (row?.status !== "in_progress") return "skipped";
  try {
    if (row.filename === null)
      throw new IngestError("invalid_file", "The file was deleted before it was processed.");
    const bytes = await readObject(d, fileKey(t.tenant, t.fileId));
    const chunks = chunkText(extractText(row.filename, bytes), row.chunking_strategy);
    const vectors = await embedAll(d, t.tenant, chunks);
    const dims = vectors[0]!.length;
    await ensureHnswIndex(d.pool, dims);
    return await store(d.pool, t, chunks, vectors, dims);
  } catch (e) {
    if (!(e instanceof IngestError)) throw e;
    await markFailed(d.pool, t, { code: e.code, message: e.message });
    return "failed";
  }
}

async function readObject(d: IngestDeps, key: string): Promise<Buffer> {
  try {
    const out = await d.s3.send(new GetObjectCommand({ Bucket: d.bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  } catch (e) {
    if ((e as { name?: string }).name === "NoSuchKey") {
      throw new IngestError("invalid_file", "The file's content is no longer stored.");
    }
    throw e;
  }
}

async function embedAll(d: IngestDeps, tenant: string, chunks: string[]): Promise<number[][]> {
  const size = d.batchSize ?? 64;
  const out: number[][] = [];
  for (let i = 0; i < chunks.length; i += size) {
    const batch = chunks.slice(i, i + size);
    const { vectors } = await d.embed(tenant, batch);
    if (vectors.length !== batch.length)
      throw new Error("the engine returned a different number of embeddings");
    out.push(...vectors);
  }
  const dims = out[0]?.length ?? 0;
  if (dims < 1 || dims > MAX_DIMS || out.some((v) => v.length !== dims || !v.every(Number.isFinite))) {
    throw new Error(`the engine returned unusable embeddings (dimension ${dims})`);
  }
  return out;
}

/** Bytes a file takes in its store: its chunks' text and their vectors. */
const chunkBytes = (chunks: string[], dims: number) =>
  chunks.reduce((n, c) => n + Buffer.byteLength(c) + 4 * dims, 0);

async function store(
  pool: pg.Pool,
  t: IngestTask,
  chunks: string[],
  vectors: number[][],
  dims: number,
): Promise<IngestResult> {
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    const locked = await c.query<{ status: string }>(
      "SELECT status FROM vector_store_files WHERE tenant = $1 AND vector_store_id = $2 AND file_id = $3 FOR UPDATE",
      [t.tenant, t.vectorStoreId, t.fileId],
    );
    if (locked.rows[0]?.status !== "in_progress") {
      await c.query("ROLLBACK");
      return "skipped";
    }
    await c.query("DELETE FROM vector_store_chunks WHERE vector_store_id = $1 AND file_id = $2", [
      t.vectorStoreId,
      t.fileId,
    ]);
    for (let i = 0; i < chunks.length; i += INSERT_ROWS) {
      const part = chunks.slice(i, i + INSERT_ROWS);
      await c.query(
        `INSERT INTO vector_store_chunks (tenant, vector_store_id, file_id, chunk_index, content, dims, embedding)
         SELECT $1, $2, $3, x.i, x.t, $4, x.e::vector
         FROM unnest($5::int[], $6::text[], $7::text[]) AS x(i, t, e)`,
        [
          t.tenant,
          t.vectorStoreId,
          t.fileId,
          dims,
          part.map((_, j) => i + j),
          part,
          vectors.slice(i, i + INSERT_ROWS).map((v) => `[${v.join(",")}]`),
        ],
      );
    }
    await c.query(
      `UPDATE vector_store_files SET status = 'completed', last_error = NULL, usage_bytes = $4, chunk_count = $5
       WHERE tenant = $1 AND vector_store_id = $2 AND file_id = $3`,
      [t.tenant, t.vectorStoreId, t.fileId, chunkBytes(chunks, dims), chunks.length],
    );
    await recordStoredBytes(c, t.tenant);
    await c.query("COMMIT");
    return "completed";
  } catch (e) {
    await c.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}

export async function markFailed(pool: pg.Pool, t: IngestTask, error: LastError): Promise<void> {
  await pool.query(
    `UPDATE vector_store_files SET status = 'failed', last_error = $4
     WHERE tenant = $1 AND vector_store_id = $2 AND file_id = $3 AND status = 'in_progress'`,
    [t.tenant, t.vectorStoreId, t.fileId, error],
  );
}
