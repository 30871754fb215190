// What a hostile tenant tried (issue 13), against real router processes with metering on:
// inputs that used to give a 500 (items 3), slow and abandoned bodies (items 4, 5) and text
// Postgres refuses (item 1, end to end). Each answer is a 4xx in OpenAI's shape, never a 5xx.
import { connect } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { type MeteredStack, MODEL, startMeteredStack } from "../metering/harness-routers.ts";
import { scrapeCounter, until } from "../support/stack.ts";
import { uniqueName } from "../support/unique.ts";

const tenant = uniqueName("hostile");
/** The tenant's plan priority (spec.limits.priority), which the router sets on engine requests. */
const PLAN_PRIORITY = 7;
let stack: MeteredStack;
let key: string;
let url: string;
let db: pg.Pool;

beforeAll(async () => {
  stack = await startMeteredStack({
    routers: 1,
    routerArgs: ["--request-timeout-ms", "1500"],
    routerEnv: { LOG_LEVEL: "info" },
    tenantsYaml: `apiVersion: loraplex.io/v1alpha1
kind: Tenant
metadata: {name: ${tenant}}
spec:
  tier: shared
  models: [${MODEL}]
  audit: {mode: full, retentionDays: 7}
  limits: {priority: ${PLAN_PRIORITY}}
`,
  });
  key = await stack.createKey(tenant);
  url = stack.urls[0]!;
  db = new pg.Pool({ connectionString: loadServiceConfig().DATABASE_URL, max: 2 });
});
afterAll(async () => {
  await db?.end();
  await stack?.stop();
});

const auth = () => ({ authorization: `Bearer ${key}`, "content-type": "application/json" });
const get = (path: string) => fetch(`${url}${path}`, { headers: auth() });

async function expectClientError(r: Response, status: number[]): Promise<void> {
  expect(status, `${r.url}: ${r.status}`).toContain(r.status);
  const body = (await r.json()) as { error?: { message?: string } };
  expect(body.error?.message).toBeTypeOf("string");
}

describe("parse, don't trust (item 3)", () => {
  it("refuses hyperparameter names inherited by every object with a 400", async () => {
    const job = { model: MODEL, training_file: "file-0123456789abcdef01234567" };
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
      for (const body of [
        `{"model":"${MODEL}","training_file":"${job.training_file}","hyperparameters":{"${name}":1}}`,
        JSON.stringify({
          ...job,
          method: { type: "supervised", supervised: { hyperparameters: { [name]: 2 } } },
        }),
        `{"model":"${MODEL}","training_file":"${job.training_file}","method":{"type":"supervised","supervised":{"hyperparameters":{"${name}":3}}}}`,
      ]) {
        const r = await fetch(`${url}/v1/fine_tuning/jobs`, { method: "POST", headers: auth(), body });
        await expectClientError(r, [400]);
      }
    }
    const r = await fetch(`${url}/v1/fine_tuning/jobs`, {
      method: "POST",
      headers: auth(),
      body: JSON.stringify({ ...job, method: { type: "supervised", supervised: "constructor" } }),
    });
    await expectClientError(r, [400]);
  });

  it("answers NUL in ids and query values with a 400 or 404", async () => {
    for (const path of [
      "/v1/files/%00",
      "/v1/files/file-%00/content",
      "/v1/files?after=%00",
      "/v1/files?purpose=%00",
      "/v1/fine_tuning/jobs/%00",
      "/v1/fine_tuning/jobs?after=%00",
      "/v1/fine_tuning/jobs/ftjob-x%00/events",
      `/v1/organization/usage/completions?start_time=${Math.floor(Date.now() / 1000) - 3600}&models=%00`,
      `/v1/organization/costs?start_time=${Math.floor(Date.now() / 1000) - 3600}&project_ids=%00`,
      "/v1/audit?cursor=%00",
      "/v1/models/%00",
    ]) {
      await expectClientError(await get(path), [400, 404]);
    }
    const del = await fetch(`${url}/v1/files/file-${"0".repeat(23)}%00`, {
      method: "DELETE",
      headers: auth(),
    });
    await expectClientError(del, [400, 404]);
    // Ids that merely look wrong are a 404 exactly like an id that does not exist.
    await expectClientError(await get("/v1/files/not-a-file-id"), [404]);
    await expectClientError(await get("/v1/fine_tuning/jobs/ftjob-nope"), [404]);
  });

  it("refuses a forged audit cursor whose date JavaScript accepts and PostgreSQL does not", async () => {
    for (const t of [
      "2024-02-30T00:00:00.000000Z",
      "0000-01-01T00:00:00.000000Z",
      "2024-13-01T00:00:00.000000Z",
    ]) {
      const cursor = Buffer.from(
        JSON.stringify({ k: "audit", t, i: "01890000-0000-7000-8000-000000000000" }),
      ).toString("base64url");
      await expectClientError(await get(`/v1/audit?cursor=${cursor}`), [400]);
    }
  });
});

/** A raw HTTP request whose body is sent slowly (or never finished); resolves when the server closes. */
function slowRequest(headers: string, firstBytes: string): Promise<{ response: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), "127.0.0.1");
    let response = "";
    const drip = setInterval(() => socket.write("x"), 200);
    const giveUp = setTimeout(() => socket.destroy(), 20_000);
    socket.on("data", (d) => {
      response += d.toString();
    });
    socket.on("close", () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve({ response, closed: response !== "" });
    });
    socket.on("error", () => {});
    socket.write(`${headers}\r\n${firstBytes}`);
  });
}

describe("slow and abandoned bodies (items 4 and 5)", () => {
  const head = (auth: string) =>
    `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${auth}content-length: 100000\r\n`;

  it("closes an unauthenticated connection after its 401, whatever body is still coming", async () => {
    const { response, closed } = await slowRequest(head(""), '{"model":');
    expect(response).toMatch(/^HTTP\/1\.1 401/);
    expect(response.toLowerCase()).toContain("connection: close");
    expect(closed).toBe(true);
  });

  it("times out an authenticated body that never finishes, with a 408", async () => {
    const { response, closed } = await slowRequest(head(`authorization: Bearer ${key}\r\n`), '{"model":');
    expect(response).toMatch(/^HTTP\/1\.1 408/);
    expect(closed).toBe(true);
  });

  it("counts a client that abandons its upload as 499, not 500, and logs no stack trace", async () => {
    const socket = connect(Number(new URL(url).port), "127.0.0.1");
    await new Promise<void>((ok) => socket.once("connect", ok));
    socket.write(`${head(`authorization: Bearer ${key}\r\n`)}\r\n{"model":"${MODEL}","messages":[`);
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    const metrics = stack.metricsUrls[0]!;
    await until(
      async () =>
        (await scrapeCounter(
          metrics,
          "loraplex_router_requests_total",
          `tenant="${tenant}",model="none",status="499"`,
        )) >= 1,
      "the abandoned upload is counted as 499",
    );
    expect(await scrapeCounter(metrics, "loraplex_router_requests_total", 'status="500"')).toBe(0);
    expect(stack.logs()).not.toMatch(/"stack"/);
  });
});

describe("text Postgres refuses, end to end (item 1)", () => {
  it("bills and audits a request whose user, model and prompt hold NUL and lone surrogates", async () => {
    const sent: string[] = [];
    for (const [i, body] of [
      {
        model: MODEL,
        max_tokens: 2,
        user: "nul\u0000user",
        messages: [{ role: "user", content: "a\u0000b" }],
      },
      { model: MODEL, max_tokens: 2, user: "lone\ud800", messages: [{ role: "user", content: "x\udc00y" }] },
      { model: "no-such\u0000model\ud800", max_tokens: 2, messages: [{ role: "user", content: "hi" }] },
    ].entries()) {
      const id = `hostile-${i}-${Date.now()}`;
      sent.push(id);
      const r = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { ...auth(), "x-request-id": id },
        body: JSON.stringify(body),
      });
      expect([200, 404]).toContain(r.status);
    }
    const count = async (table: string, id: string) =>
      Number(
        (
          await db.query(`SELECT count(*) AS n FROM "${stack.schema}".${table} WHERE request_id LIKE $1`, [
            `${id}-%`,
          ])
        ).rows[0].n,
      );
    for (const id of sent) {
      await until(async () => (await count("usage_events", id)) === 1, `usage row of ${id}`);
      expect(await count("audit_log", id)).toBe(1);
    }
  });
});

describe("engine priority comes from the tenant's plan (item 8)", () => {
  const chat = (extra: object) =>
    fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: auth(),
      body: JSON.stringify({
        model: MODEL,
        max_tokens: 2,
        messages: [{ role: "user", content: "hi" }],
        ...extra,
      }),
    });
  // The engine simulator counts the `priority` each request carried (simulator behaviour).
  const atEngine = (p: number) =>
    scrapeCounter(stack.replica.engineUrl, "loraplex_sim_requests_by_priority_total", `priority="${p}"`);

  it("refuses a client's own priority with a 400 naming it", async () => {
    const r = await chat({ priority: -100 });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { param: string } }).error.param).toBe("priority");
  });

  it("sends the plan's priority to the engine on every request", async () => {
    const before = await atEngine(PLAN_PRIORITY);
    for (let i = 0; i < 3; i++) expect((await chat({})).status).toBe(200);
    expect((await atEngine(PLAN_PRIORITY)) - before).toBe(3);
    expect(await atEngine(-100)).toBe(0);
  });
});

// Last in the file: it uses up this address's failed authentications for a few seconds.
describe("a flood of bogus keys (item 7)", () => {
  it("stops looking bogus keys up after the per-address limit, while a valid key keeps working", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 80; i++) {
      const prefix = `Zz${String(i).padStart(6, "0")}`;
      const r = await fetch(`${url}/v1/models`, {
        headers: { authorization: `Bearer lpx-${prefix}-${"A".repeat(43)}` },
      });
      statuses.push(r.status);
      await r.body?.cancel();
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    expect((await get("/v1/models")).status).toBe(200);
  });
});

describe("uploads (item 6)", () => {
  it("allows a tenant two uploads in progress at once and answers a third with 429", async () => {
    const boundary = "limit";
    const open = () => {
      const socket = connect(Number(new URL(url).port), "127.0.0.1");
      socket.on("error", () => {});
      socket.write(
        `POST /v1/files HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key}\r\n` +
          `content-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: 1000000\r\n\r\n--${boundary}\r\n`,
      );
      return socket;
    };
    const slow = [open(), open()];
    try {
      await new Promise((r) => setTimeout(r, 300));
      const form = new FormData();
      form.set("purpose", "fine-tune");
      form.set(
        "file",
        new Blob(['{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n']),
        "a.jsonl",
      );
      const r = await fetch(`${url}/v1/files`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}` },
        body: form,
      });
      expect(r.status).toBe(429);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe("too_many_uploads");
    } finally {
      for (const s of slow) s.destroy();
    }
  });
});
