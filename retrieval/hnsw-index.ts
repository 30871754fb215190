// One partial HNSW index per embedding dimension in use: the embedding column has no fixed size
// (tenants pick their embedding model), and pgvector indexes only fixed-size vectors, so each
// index covers `embedding::vector(d)` of the rows WHERE dims = d. The ingestion worker creates
// the index the first time it stores vectors of a new size, under an advisory lock.
import type pg from "pg";

export const MAX_DIMS = 2000; // pgvector's HNSW limit for `vector`

const indexName = (dims: number) => `vector_store_chunks_hnsw_${dims}`;

// Per pool (one pool serves one schema), so a second schema in the same process gets its own.
const ensured = new WeakMap<pg.Pool, Set<number>>();

export async function ensureHnswIndex(pool: pg.Pool, dims: number): Promise<void> {
  if (!Number.isInteger(dims) || dims < 1 || dims > MAX_DIMS) {
    throw new Error(`embedding dimension ${dims} is outside 1..${MAX_DIMS}`);
  }
  const done = ensured.get(pool) ?? new Set<number>();
  ensured.set(pool, done);
  if (done.has(dims)) return;
  const c = await pool.connect();
  try {
    await c.query("BEGIN");
    await c.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`loraplex:hnsw:${dims}`]);
    await c.query(
      `CREATE INDEX IF NOT EXISTS ${indexName(dims)} ON vector_store_chunks
       USING hnsw ((embedding::vector(${dims})) vector_cosine_ops) WHERE dims = ${dims}`,
    );
    await c.query("COMMIT");
  } catch (e) {
    await c.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    c.release();
  }
  done.add(dims);
}
