// No input yields a 5xx (issue 13): property-based fuzzing of every route in test/support/routes.ts
// against a real router process with metering on. Path ids, query parameters, JSON bodies
// (valid JSON of any shape, prototype-polluting keys, NUL and lone surrogates, and text that is
// not JSON) and credentials are generated; every answer must be below 500.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type MeteredStack, MODEL, startMeteredStack } from "../metering/harness-routers.ts";
import { anyText } from "../support/arbitrary-text.ts";
import { ROUTES, type RouteSpec } from "../support/routes.ts";
import { uniqueName } from "../support/unique.ts";

const tenant = uniqueName("fuzz");
let stack: MeteredStack;
let key: string;

beforeAll(async () => {
  stack = await startMeteredStack({
    routers: 1,
    tenantsYaml: `apiVersion: loraplex.io/v1alpha1
kind: Tenant
metadata: {name: ${tenant}}
spec:
  tier: shared
  models: [${MODEL}]
  audit: {mode: full, retentionDays: 7}
  policy: {allowClientSystemPrompt: false}
`,
  });
  key = await stack.createKey(tenant);
});
afterAll(async () => {
  await stack?.stop();
});

const NAMES = [
  "model",
  "messages",
  "prompt",
  "input",
  "user",
  "after",
  "limit",
  "cursor",
  "start_time",
  "end_time",
  "group_by",
  "models",
  "bucket_width",
  "page",
  "tenant",
  "purpose",
  "order",
  "hyperparameters",
  "training_file",
  "method",
  "constructor",
  "__proto__",
  "toString",
  "hasOwnProperty",
  "stream",
  "max_tokens",
];
const name = fc.oneof(fc.constantFrom(...NAMES), anyText(12));
const scalar = fc.oneof(
  anyText(24),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(MODEL, "file-0123456789abcdef01234567", "ftjob-0123456789abcdef01234567", "-1", "1e308"),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    scalar,
    fc.array(tie("v"), { maxLength: 3 }),
    fc.dictionary(name, tie("v"), { maxKeys: 4 }),
  ),
})).v;
const jsonBody = fc.oneof(
  fc.dictionary(name, value, { maxKeys: 6 }).map((o) => JSON.stringify(o)),
  fc
    .record({ model: fc.constantFrom(MODEL, "x"), messages: value, prompt: value, input: value, user: value })
    .map((o) => JSON.stringify(o)),
  value.map((v) => JSON.stringify(v) ?? "null"),
  anyText(60),
);
const query = fc
  .array(fc.tuple(name, fc.oneof(anyText(20), scalar.map(String))), { maxLength: 4 })
  .map((pairs) =>
    pairs
      .map(([k, v]) => `${encodeURIComponent(k.toWellFormed())}=${encodeURIComponent(v.toWellFormed())}`)
      .join("&"),
  );
// Ids: ours, near misses, and arbitrary text; raw %00 and broken escapes too.
const id = fc.oneof(
  anyText(30).map((s) => encodeURIComponent(s.toWellFormed())),
  fc.constantFrom(
    "%00",
    "%ZZ",
    "%E0%A4",
    "file-0123456789abcdef01234567",
    "ftjob-0123456789abcdef01234567",
    "key_abc",
    "..%2F..%2Fetc",
    "constructor",
    "__proto__",
  ),
);
const credential = fc.constantFrom("tenant", "admin", "bogus", "none", "malformed");

function headersFor(cred: string, body: RouteSpec["body"]): Record<string, string> {
  const h: Record<string, string> = {};
  if (cred === "tenant") h.authorization = `Bearer ${key}`;
  if (cred === "admin") h.authorization = `Bearer ${ADMIN_TOKEN}`;
  if (cred === "bogus") h.authorization = `Bearer lpx-Fuzz0000-${"B".repeat(43)}`;
  if (cred === "malformed") h.authorization = "Bearer \u00ff\u00fe";
  if (body === "json") h["content-type"] = "application/json";
  if (body === "multipart") h["content-type"] = "multipart/form-data; boundary=fuzz";
  return h;
}

function multipart(text: string, purpose: string): string {
  return (
    `--fuzz\r\ncontent-disposition: form-data; name="purpose"\r\n\r\n${purpose}\r\n` +
    `--fuzz\r\ncontent-disposition: form-data; name="file"; filename="f.jsonl"\r\n\r\n${text}\r\n--fuzz--\r\n`
  );
}

describe("every route, fuzzed", () => {
  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
    "%s never answers 5xx",
    async (_, route) => {
      await fc.assert(
        fc.asyncProperty(
          id,
          query,
          jsonBody,
          credential,
          fc.boolean(),
          async (pathId, q, body, cred, preferCred) => {
            const path = route.path.replaceAll(":id", pathId);
            const c = preferCred ? route.auth : cred;
            const init: RequestInit = { method: route.method, headers: headersFor(c, route.body) };
            if (route.body === "json") init.body = body;
            if (route.body === "multipart")
              init.body = multipart(body, cred === "tenant" ? "fine-tune" : body.slice(0, 8));
            const r = await fetch(`${stack.urls[0]}${path}${q ? `?${q}` : ""}`, init);
            const text = await r.text();
            expect(r.status, `${route.method} ${path}?${q} → ${r.status} ${text.slice(0, 200)}`).toBeLessThan(
              500,
            );
          },
        ),
        { numRuns: 25 },
      );
    },
  );

  it("left no 5xx in the router's own request counter", async () => {
    const metrics = await (await fetch(`${stack.metricsUrls[0]}/metrics`)).text();
    expect(metrics).not.toMatch(/loraplex_router_requests_total\{[^}]*status="5\d\d"\}/);
  });
});
