// vectorStores.search: nearest chunks of the caller's stores by cosine similarity, optionally
// fused with PostgreSQL full-text ranking (reciprocal rank fusion), filtered on file attributes.
//
// Isolation and completeness: every query runs under row-level security with the tenant in its
// WHERE. Small searches (the stores hold at most `exactLimit` chunks) are exact: the B-tree on
// vector_store_id finds the rows and every one is compared, so nothing can be missed. Larger
// ones use the HNSW index with pgvector 0.8's iterative scan, which keeps walking the graph
// until enough rows pass the tenant/store/attribute filter; if it still returns fewer than asked
// (its scan budget ran out) the search is repeated exactly. A filter never costs results.
import type pg from "pg";
import { withTenant } from "../metering/tenant-db.ts";
import { type Filter, filterSql } from "./filters.ts";

export type SearchRequest = {
  tenant: string;
  storeIds: string[];
  /** The query's embedding (unit length) and its text (for full-text ranking). */
  vector: number[];
  text: string;
  k: number;
  filters?: Filter;
  hybrid: boolean;
  scoreThreshold?: number;
};

/** A search over some of one tenant's stores, before the query is embedded. */
export type StoreSearch = {
  /** Well-formed store ids (ids.ts); their existence and tenant are checked by the caller. */
  storeIds: string[];
  text: string;
  k: number;
  filters?: Filter;
  hybrid: boolean;
  scoreThreshold?: number;
};

export type SearchHit = {
  file_id: string;
  filename: string;
  score: number;
  attributes: Record<string, string | number | boolean>;
  content: { type: "text"; text: string }[];
};

export type SearchOptions = {
  /** Up to this many chunks in the searched stores, search exactly (default 20,000). */
  exactLimit?: number;
  /** hnsw.ef_search for index scans (default 100). */
  efSearch?: number;
  /** hnsw.max_scan_tuples: how far an iterative scan may walk (default 50,000). */
  maxScanTuples?: number;
};

type Candidate = { id: string; distance: number };

/** RRF's constant: ranks beyond the first few contribute almost equally. */
const RRF_K = 60;

const vectorLiteral = (v: number[]) => `[${v.join(",")}]`;

async function vectorCandidates(
  c: pg.PoolClient,
  r: SearchRequest,
  n: number,
  approximate: boolean,
  opts: SearchOptions,
): Promise<Candidate[]> {
  const dims = r.vector.length;
  const params: unknown[] = [r.tenant, r.storeIds, vectorLiteral(r.vector), n];
  const filter = r.filters
    ? `AND EXISTS (SELECT 1 FROM vector_store_files f WHERE f.vector_store_id = c.vector_store_id
         AND f.file_id = c.file_id AND (${filterSql(r.filters, "f.attributes", params)}))`
    : "";
  if (!approximate) {
    // No cast to vector(dims): this ORDER BY matches no HNSW index, so the rows come from the
    // B-tree on vector_store_id and every one is compared.
    const { rows } = await c.query<Candidate>(
      `SELECT c.id, c.embedding <=> $3::vector AS distance FROM vector_store_chunks c
       WHERE c.tenant = $1 AND c.vector_store_id = ANY($2) AND c.dims = ${dims} ${filter}
       ORDER BY distance LIMIT $4`,
      params,
    );
    return rows;
  }
  await c.query(
    `SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),
            set_config('hnsw.ef_search', $1, true), set_config('hnsw.max_scan_tuples', $2, true)`,
    [String(Math.max(opts.efSearch ?? 100, n)), String(opts.maxScanTuples ?? 50_000)],
  );
  // `vector_store_id || ''` keeps the planner off the B-tree so the HNSW index drives the scan;
  // relaxed order may return near-ties out of order, so the outer query sorts them.
  const { rows } = await c.query<Candidate>(
    `WITH hits AS MATERIALIZED (
       SELECT c.id, c.embedding::vector(${dims}) <=> $3::vector(${dims}) AS distance FROM vector_store_chunks c
       WHERE c.dims = ${dims} AND c.tenant = $1 AND (c.vector_store_id || '') = ANY($2) ${filter}
       ORDER BY distance LIMIT $4)
     SELECT * FROM hits ORDER BY distance`,
    params,
  );
  return rows;
}

/**
 * Full-text candidates, precision first like a web search: chunks containing every word of the
 * query (PostgreSQL's own parser, so "ZX-4471" and "v2.3" are the same tokens on both sides);
 * only when none does, chunks containing any of them. Ranked by cover density; the GIN index
 * on tsv finds them. This is what finds an exact identifier that vectors blur.
 */
async function textCandidates(c: pg.PoolClient, r: SearchRequest, n: number): Promise<string[]> {
  for (const op of [" & ", " | "]) {
    const params: unknown[] = [r.tenant, r.storeIds, r.text, n, op];
    const filter = r.filters
      ? `AND EXISTS (SELECT 1 FROM vector_store_files f WHERE f.vector_store_id = c.vector_store_id
           AND f.file_id = c.file_id AND (${filterSql(r.filters, "f.attributes", params)}))`
      : "";
    const { rows } = await c.query<{ id: string }>(
      `WITH lex AS (SELECT lexeme FROM unnest(to_tsvector('simple', $3)) LIMIT 64),
            q AS (SELECT (SELECT string_agg(quote_literal(lexeme), $5) FROM lex)::tsquery AS words)
       SELECT c.id FROM vector_store_chunks c, q
       WHERE c.tenant = $1 AND c.vector_store_id = ANY($2) AND c.tsv @@ q.words ${filter}
       ORDER BY ts_rank_cd(c.tsv, q.words) DESC, c.id LIMIT $4`,
      params,
    );
    if (rows.length > 0) return rows.map((x) => x.id);
  }
  return [];
}

/** Reciprocal rank fusion, scaled so a chunk ranked first by both lists scores 1. */
function fuse(lists: string[][]): Map<string, number> {
  const scores = new Map<string, number>();
  for (const list of lists) {
    for (const [rank, id] of list.entries()) scores.set(id, (scores.get(id) ?? 0) + 1 / (RRF_K + rank + 1));
  }
  const best = lists.length / (RRF_K + 1);
  for (const [id, s] of scores) scores.set(id, s / best);
  return scores;
}

export async function searchChunks(
  pool: pg.Pool,
  r: SearchRequest,
  chunkCount: number,
  opts: SearchOptions = {},
): Promise<SearchHit[]> {
  return withTenant(pool, r.tenant, async (c) => {
    const n = r.hybrid ? Math.max(50, r.k * 4) : r.k;
    const approximate = chunkCount > (opts.exactLimit ?? 20_000);
    let vec = await vectorCandidates(c, r, n, approximate, opts);
    if (approximate && vec.length < Math.min(n, chunkCount))
      vec = await vectorCandidates(c, r, n, false, opts);
    let ranked: { id: string; score: number }[];
    if (r.hybrid) {
      const fused = fuse([vec.map((x) => x.id), await textCandidates(c, r, n)]);
      ranked = [...fused].map(([id, score]) => ({ id, score })).sort((a, b) => b.score - a.score);
    } else {
      ranked = vec.map((x) => ({ id: x.id, score: Math.max(0, Math.min(1, 1 - x.distance)) }));
    }
    if (r.scoreThreshold !== undefined) ranked = ranked.filter((x) => x.score >= r.scoreThreshold!);
    ranked = ranked.slice(0, r.k);
    if (ranked.length === 0) return [];
    const { rows } = await c.query<{
      id: string;
      file_id: string;
      filename: string | null;
      attributes: Record<string, string | number | boolean>;
      content: string;
    }>(
      `SELECT c.id, c.file_id, fl.filename, f.attributes, c.content FROM vector_store_chunks c
       JOIN vector_store_files f ON f.vector_store_id = c.vector_store_id AND f.file_id = c.file_id
       LEFT JOIN files fl ON fl.tenant = c.tenant AND fl.id = c.file_id
       WHERE c.tenant = $1 AND c.id = ANY($2::bigint[])`,
      [r.tenant, ranked.map((x) => x.id)],
    );
    const byId = new Map(rows.map((x) => [String(x.id), x]));
    return ranked.flatMap((x) => {
      const row = byId.get(String(x.id));
      if (!row) return [];
      return [
        {
          file_id: row.file_id,
          filename: row.filename ?? "",
          score: Math.round(x.score * 1e6) / 1e6,
          attributes: row.attributes,
          content: [{ type: "text" as const, text: row.content }],
        },
      ];
    });
  });
}

/** Chunks the search would look at: the size that decides exact or approximate. */
export async function countChunks(pool: pg.Pool, tenant: string, storeIds: string[]): Promise<number> {
  return withTenant(pool, tenant, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      "SELECT coalesce(sum(chunk_count), 0) AS n FROM vector_store_files WHERE tenant = $1 AND vector_store_id = ANY($2)",
      [tenant, storeIds],
    );
    return Number(rows[0]?.n ?? 0);
  });
}
