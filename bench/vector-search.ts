// Benchmark (not a test): vector store search on PostgreSQL + pgvector with tenant isolation.
//
//   node bench/vector-search.ts                       # full size: 500,000 chunks, 100 tenants
//   node bench/vector-search.ts --chunks 100000       # smaller corpus, same shape (large = 20%)
//
// Shape (from issue 16): `--tenants` tenants, one of them holding `--large-share` of `--chunks`
// chunks, the rest spread evenly; `--dims` dimensions. Vectors are clustered (a point near one of
// 2,000 random centres) so nearest neighbours are meaningful, seeded so runs repeat. Chunks are
// stored through the same INSERT as retrieval/ingest.ts (text vectors through unnest, tsvector,
// B-tree and GIN maintained), then the per-dimension HNSW index is built (timed). Searches go
// through retrieval/search.ts searchChunks — row-level security, the tenant and store filter,
// exact below `exactLimit`, HNSW with iterative scan above — for a small and for the large
// tenant, at concurrency 1 and 16, each against exact search of the same queries in the same run
// (the practical limit: recall 1.0 by definition). Queries are stored chunks plus noise.
// A fresh schema is migrated first and dropped at the end (--keep to keep it).
import { execFileSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import pg from "pg";
import { loadServiceConfig } from "../core/config.ts";
import { createPgPool } from "../core/db.ts";
import { createLogger } from "../core/log.ts";
import { migrate } from "../core/migrate.ts";
import { ensureHnswIndex } from "../retrieval/hnsw-index.ts";
import { type SearchOptions, searchChunks } from "../retrieval/search.ts";
import { uniqueName } from "../test/support/unique.ts";

const { values: flags } = parseArgs({
  options: {
    chunks: { type: "string", default: "500000" },
    tenants: { type: "string", default: "100" },
    "large-share": { type: "string", default: "0.2" },
    dims: { type: "string", default: "384" },
    queries: { type: "string", default: "200" },
    "exact-limit": { type: "string", default: "20000" },
    keep: { type: "boolean", default: false },
  },
});
const CHUNKS = Number(flags.chunks);
const TENANTS = Number(flags.tenants);
const LARGE = Math.round(CHUNKS * Number(flags["large-share"]));
const DIMS = Number(flags.dims);
const QUERIES = Number(flags.queries);
const EXACT_LIMIT = Number(flags["exact-limit"]);
const K = 10;

execFileSync("bash", ["scripts/services.sh", "up"], { stdio: ["ignore", "ignore", "inherit"] });
const cfg = loadServiceConfig();
const schema = uniqueName("bench_vs").replaceAll("-", "_");
const pool = createPgPool(cfg, { schema, max: 20 });
await migrate(pool, { schema, log: createLogger("bench", "warn") });

// Seeded PRNG (mulberry32) and a normal deviate, so two runs store the same corpus.
let seed = 0x5eed;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
const unit = (v: number[]) => {
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
};
const centres = Array.from({ length: 2000 }, () => unit(Array.from({ length: DIMS }, gauss)));
const near = (c: number[], spread: number) => unit(c.map((x) => x + (gauss() * spread) / Math.sqrt(DIMS)));
const literal = (v: number[]) => `[${v.map((x) => x.toFixed(5)).join(",")}]`;

const tenantName = (i: number) => `t${String(i).padStart(3, "0")}`;
const sizeOf = (i: number) =>
  i === 0
    ? LARGE
    : Math.floor((CHUNKS - LARGE) / (TENANTS - 1)) + (i - 1 < (CHUNKS - LARGE) % (TENANTS - 1) ? 1 : 0);
const storeOf = (i: number) => `vs_${String(i).padStart(24, "0")}`;

// A sample of each tenant's vectors to draw queries from (the large one and tenant 1, a small one).
const samples = new Map<number, number[][]>();

console.log(
  `corpus: ${CHUNKS} chunks, ${TENANTS} tenants (large: ${LARGE}, small: ${sizeOf(1)}), ${DIMS} dims`,
);
const ingestStart = performance.now();
for (let t = 0; t < TENANTS; t++) {
  const tenant = tenantName(t);
  const vs = storeOf(t);
  await pool.query("INSERT INTO vector_stores (id, tenant) VALUES ($1, $2)", [vs, tenant]);
  await pool.query(
    `INSERT INTO vector_store_files (vector_store_id, file_id, tenant, chunking_strategy, status, chunk_count)
     VALUES ($1, 'file-bench', $2, '{}', 'completed', $3)`,
    [vs, tenant, sizeOf(t)],
  );
  for (let i = 0; i < sizeOf(t); i += 1000) {
    const n = Math.min(1000, sizeOf(t) - i);
    const vectors = Array.from({ length: n }, () => near(centres[Math.floor(rand() * centres.length)]!, 0.6));
    if (t <= 1 && i === 0) samples.set(t, vectors.slice(0, 200));
    await pool.query(
      `INSERT INTO vector_store_chunks (tenant, vector_store_id, file_id, chunk_index, content, dims, embedding)
       SELECT $1, $2, 'file-bench', x.i, x.t, $3, x.e::vector FROM unnest($4::int[], $5::text[], $6::text[]) AS x(i, t, e)`,
      [
        tenant,
        vs,
        DIMS,
        vectors.map((_, j) => i + j),
        vectors.map((_, j) => `${tenant} chunk ${i + j}`),
        vectors.map(literal),
      ],
    );
  }
}
const ingestS = (performance.now() - ingestStart) / 1000;
console.log(
  `ingestion: ${CHUNKS} chunks in ${ingestS.toFixed(1)} s = ${Math.round(CHUNKS / ingestS)} chunks/s`,
);

const buildStart = performance.now();
await pool.query("SET maintenance_work_mem = '1GB'");
await ensureHnswIndex(pool, DIMS);
const buildS = (performance.now() - buildStart) / 1000;
console.log(`HNSW index build (m=16, ef_construction=64, cosine): ${buildS.toFixed(1)} s`);
await pool.query("ANALYZE vector_store_chunks");

type Mode = { name: string; opts: SearchOptions };
const EXACT: Mode = { name: "exact", opts: { exactLimit: Number.POSITIVE_INFINITY } };
const AUTO: Mode = { name: "auto", opts: { exactLimit: EXACT_LIMIT } };
const HNSW: Mode = { name: "hnsw", opts: { exactLimit: 0 } };

async function run(t: number, mode: Mode, queries: number[][], concurrency: number) {
  const tenant = tenantName(t);
  const lat: number[] = [];
  const results: string[][] = new Array(queries.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < queries.length) {
        const qi = next++;
        const t0 = performance.now();
        const hits = await searchChunks(
          pool,
          { tenant, storeIds: [storeOf(t)], vector: queries[qi]!, text: "", k: K, hybrid: false },
          sizeOf(t),
          mode.opts,
        );
        lat.push(performance.now() - t0);
        results[qi] = hits.map((h) => h.content[0]!.text);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return { p50: pct(0.5), p99: pct(0.99), results };
}

const recall = (got: string[][], truth: string[][]) => {
  let hit = 0;
  let total = 0;
  for (let i = 0; i < truth.length; i++) {
    const want = new Set(truth[i]);
    total += want.size;
    hit += got[i]!.filter((x) => want.has(x)).length;
  }
  return total === 0 ? 1 : hit / total;
};

console.log(`\nsearch, k=${K}, ${QUERIES} queries each; exact-limit ${EXACT_LIMIT}`);
console.log("tenant  chunks  mode   conc  p50 ms  p99 ms  recall@10");
for (const t of [1, 0]) {
  const sample = samples.get(t)!;
  const queries = Array.from({ length: QUERIES }, (_, i) => near(sample[i % sample.length]!, 0.4));
  const truth = (await run(t, EXACT, queries, 4)).results;
  for (const mode of [EXACT, AUTO, HNSW]) {
    for (const c of [1, 16]) {
      const r = await run(t, mode, queries, c);
      console.log(
        `${tenantName(t)}  ${String(sizeOf(t)).padStart(6)}  ${mode.name.padEnd(5)}  ${String(c).padStart(4)}  ${r.p50.toFixed(2).padStart(6)}  ${r.p99.toFixed(2).padStart(6)}  ${recall(r.results, truth).toFixed(3)}`,
      );
    }
  }
}
console.log(
  `\nmachine: ${cpus().length} cores, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
console.log(`reproduce: node bench/vector-search.ts --chunks ${CHUNKS} --tenants ${TENANTS} --dims ${DIMS}`);

if (!flags.keep) {
  const admin = new pg.Pool({ connectionString: cfg.DATABASE_URL, max: 1 });
  await admin.query(`DROP SCHEMA "${schema}" CASCADE`).finally(() => admin.end());
}
await pool.end();
