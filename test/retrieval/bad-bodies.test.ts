// 1,200 malformed or hostile requests against the vector store routes (random JSON of every
// type, wrong-typed fields, deep filters, NUL and invalid UTF-8, junk ids and query strings):
// every answer is an OpenAI-shaped 4xx (or a 200 when the random body happens to be valid),
// never a 5xx, and the router keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RetrievalStack, startRetrievalStack } from "./harness.ts";

let s: RetrievalStack;
let store: string;

beforeAll(async () => {
  s = await startRetrievalStack();
  store = (await s.client(s.acme).vectorStores.create({ name: "fuzz" })).id;
});
afterAll(async () => {
  await s?.stop();
});

let seed = 1234;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const STRINGS = [
  "",
  "x",
  "\u0000",
  "a\u0000b",
  "é",
  "💥",
  "vs_",
  "file-",
  "auto",
  "static",
  "eq",
  "and",
  "x".repeat(5000),
];
const NUMBERS = [0, -1, 1, 1.5, 1e308, -1e308, 51, 100, 4097, Number.MAX_SAFE_INTEGER];

function value(depth: number): unknown {
  const kind = depth > 3 ? pick(["s", "n", "b", "z"]) : pick(["s", "n", "b", "z", "a", "o", "o"]);
  switch (kind) {
    case "s":
      return pick(STRINGS);
    case "n":
      return pick(NUMBERS);
    case "b":
      return rnd() < 0.5;
    case "z":
      return null;
    case "a":
      return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(rnd() * 4) }, () => [pick(KEYS), value(depth + 1)]),
      );
  }
}
const KEYS = [
  "query",
  "filters",
  "max_num_results",
  "ranking_options",
  "rewrite_query",
  "name",
  "metadata",
  "expires_after",
  "file_ids",
  "files",
  "file_id",
  "attributes",
  "chunking_strategy",
  "type",
  "key",
  "value",
  "static",
  "max_chunk_size_tokens",
  "chunk_overlap_tokens",
  "anchor",
  "days",
];

function filter(depth: number): unknown {
  if (depth > 7 || rnd() < 0.4)
    return { type: pick(["eq", "ne", "gt", "in", "nin", "zz"]), key: pick(STRINGS), value: value(3) };
  return {
    type: pick(["and", "or"]),
    filters: Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => filter(depth + 1)),
  };
}

function body(): string | Buffer {
  const r = rnd();
  if (r < 0.05) return "{not json";
  if (r < 0.08) return Buffer.from([0x7b, 0x22, 0x71, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
  if (r < 0.1) return JSON.stringify(value(0));
  const b = value(1) as Record<string, unknown>;
  const obj = typeof b === "object" && b !== null && !Array.isArray(b) ? b : {};
  if (rnd() < 0.5) obj.query = rnd() < 0.8 ? pick(STRINGS) : value(2);
  if (rnd() < 0.3) obj.filters = filter(0);
  if (rnd() < 0.3) obj.file_id = pick(["file-000000000000000000000000", "file-x", 7]);
  return JSON.stringify(obj);
}

const PATHS = () => {
  const id = pick([store, "vs_000000000000000000000000", "vs_x", "%00", "..", "vs_' OR 1=1"]);
  const file = pick(["file-000000000000000000000000", "file-zz", "x"]);
  const batch = pick(["vsfb_000000000000000000000000", "b"]);
  return pick([
    ["POST", "/v1/vector_stores"],
    ["POST", `/v1/vector_stores/${encodeURIComponent(id)}`],
    ["POST", `/v1/vector_stores/${encodeURIComponent(id)}/search`],
    ["POST", `/v1/vector_stores/${encodeURIComponent(id)}/files`],
    ["POST", `/v1/vector_stores/${encodeURIComponent(id)}/files/${file}`],
    ["POST", `/v1/vector_stores/${encodeURIComponent(id)}/file_batches`],
    ["POST", `/v1/vector_stores/${encodeURIComponent(id)}/file_batches/${batch}/cancel`],
    [
      "GET",
      `/v1/vector_stores?limit=${pick(["0", "101", "x", "5"])}&order=${pick(["asc", "up"])}&after=${pick(["vs_1", store])}`,
    ],
    ["GET", `/v1/vector_stores/${encodeURIComponent(id)}/files?filter=${pick(["completed", "nope"])}`],
    ["GET", `/v1/vector_stores/${encodeURIComponent(id)}/file_batches/${batch}/files`],
    ["DELETE", `/v1/vector_stores/${encodeURIComponent(id)}/files/${file}`],
  ] as const);
};

describe("vector store routes under malformed input", () => {
  it("answers 1,200 hostile requests with OpenAI-shaped 4xx or 200, never a 5xx", async () => {
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1200; i++) {
      const [method, path] = PATHS();
      const res = await fetch(`${s.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${s.keys[s.acme]}`, "content-type": "application/json" },
        body: method === "POST" ? body() : undefined,
      });
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `${method} ${path} → ${text.slice(0, 300)}`).toBeLessThan(500);
      if (res.status >= 400) {
        const err = (JSON.parse(text) as { error: { message: string; type: string } }).error;
        expect(typeof err.message).toBe("string");
        expect(err.type).toMatch(/_error$/);
      }
    }
    expect(statuses.get(400) ?? 0).toBeGreaterThan(100);
    expect(statuses.get(404) ?? 0).toBeGreaterThan(100);
    const ok = await s.client(s.acme).vectorStores.retrieve(store);
    expect(ok.id).toBe(store);
  });
});
