// Every bad input named in the agent's spec: each answered with a clear error in the agent's
// JSON shape and status, nothing left in the cache or the engine, and the agent still running.
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateAdapter } from "../../core/peft.ts";
import { adapterPrefix } from "../../core/storage-layout.ts";
import { uniqueName } from "../support/unique.ts";
import {
  type Agent,
  BASE_MODEL,
  bucket,
  cacheContents,
  engineAdapters,
  putAdapter,
  putObject,
  removeDir,
  type Sim,
  s3,
  startAgent,
  startSim,
} from "./harness.ts";

type Answer = { status: number; body: { error: { message: string } } };

describe("adapter agent: bad input", () => {
  const tenant = uniqueName("agb");
  const other = uniqueName("agb-other");
  let s3c: S3Client;
  let sim: Sim;
  let agent: Agent;

  beforeAll(async () => {
    s3c = s3();
    sim = await startSim({ args: ["--max-lora-rank", "64"] });
    // The agent is stricter than the engine here, so the agent's own check is what answers.
    agent = await startAgent({ engineUrl: sim.url, args: ["--max-lora-rank", "16"] });
  });
  afterAll(async () => {
    await agent?.stop();
    await sim?.proc.stop();
    s3c?.destroy();
    if (agent) await removeDir(agent.cacheDir);
  });

  async function postLoad(body: unknown): Promise<Answer> {
    const r = await fetch(`${agent.url}/adapters/load`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Answer["body"] };
  }

  const load = (adapter: string, source: string, extra: Record<string, unknown> = {}) =>
    postLoad({ tenant, adapter, version: 1, source, ...extra });

  function expectError(r: Answer, status: number, code: string, message: RegExp) {
    expect(r.status).toBe(status);
    expect(r.body).toEqual({ error: { message: expect.any(String), type: expect.any(String), code } });
    expect(r.body.error.message).toMatch(message);
  }

  it("a missing object: 404 adapter_not_found", async () => {
    const r = await load("nothing-here", `s3://${bucket}/${adapterPrefix(tenant, "nothing-here", 1)}`);
    expectError(r, 404, "adapter_not_found", /adapter_config\.json does not exist|does not exist/);
  });

  it("config present but weights missing: 404 adapter_not_found naming the file", async () => {
    const prefix = adapterPrefix(tenant, "half", 1);
    await putObject(
      s3c,
      `${prefix}adapter_config.json`,
      JSON.stringify(generateAdapter({ baseModel: BASE_MODEL }).config),
    );
    const r = await load("half", `s3://${bucket}/${prefix}`);
    expectError(r, 404, "adapter_not_found", /adapter_model\.safetensors does not exist/);
  });

  it("corrupt safetensors: 422 invalid_adapter", async () => {
    const prefix = adapterPrefix(tenant, "corrupt", 1);
    const { config } = generateAdapter({ baseModel: BASE_MODEL });
    await putObject(s3c, `${prefix}adapter_config.json`, JSON.stringify(config));
    await putObject(
      s3c,
      `${prefix}adapter_model.safetensors`,
      Buffer.from("this is not a safetensors file at all"),
    );
    const r = await load("corrupt", `s3://${bucket}/${prefix}`);
    expectError(r, 422, "invalid_adapter", /safetensors header/);
  });

  it("truncated safetensors: 422 invalid_adapter", async () => {
    const prefix = adapterPrefix(tenant, "truncated", 1);
    const { config, weights } = generateAdapter({ baseModel: BASE_MODEL });
    await putObject(s3c, `${prefix}adapter_config.json`, JSON.stringify(config));
    await putObject(s3c, `${prefix}adapter_model.safetensors`, weights.subarray(0, weights.length - 100));
    const r = await load("truncated", `s3://${bucket}/${prefix}`);
    expectError(r, 422, "invalid_adapter", /offsets do not match/);
  });

  it("an adapter for another base model: 422 invalid_adapter naming both models", async () => {
    const a = await putAdapter(s3c, tenant, "wrong-base", 1, { baseModel: "mistral-7b-instruct" });
    const r = await load("wrong-base", a.source);
    expectError(r, 422, "invalid_adapter", new RegExp(`'mistral-7b-instruct'.*'${BASE_MODEL}'`));
  });

  it("rank above --max-lora-rank: 422 invalid_adapter", async () => {
    const a = await putAdapter(s3c, tenant, "rank-32", 1, { rank: 32 });
    const r = await load("rank-32", a.source);
    expectError(r, 422, "invalid_adapter", /rank 32 is outside 1\.\.16/);
  });

  it("sha256 mismatch: 422 checksum_mismatch", async () => {
    const a = await putAdapter(s3c, tenant, "checked", 1);
    const r = await load("checked", a.source, { sha256: "0".repeat(64) });
    expectError(
      r,
      422,
      "checksum_mismatch",
      new RegExp(`has sha256 ${a.sha256}, but the request expects 0{64}`),
    );
  });

  it("another tenant's prefix, even with a real adapter there: 403 source_outside_tenant", async () => {
    const theirs = await putAdapter(s3c, other, "secret-bot", 1);
    const r = await load("secret-bot", theirs.source);
    expectError(
      r,
      403,
      "source_outside_tenant",
      new RegExp(`under s3://${bucket}/tenants/${tenant}/adapters/`),
    );
  });

  it.each([
    [
      "dot-dot segments",
      (t: string, o: string) => `s3://${bucket}/tenants/${t}/adapters/../../${o}/adapters/secret-bot/1/`,
    ],
    [
      "percent-encoded dots",
      (t: string, o: string) => `s3://${bucket}/tenants/${t}/adapters/%2e%2e/%2e%2e/${o}/adapters/x/1/`,
    ],
    [
      "backslashes",
      (t: string, o: string) => `s3://${bucket}/tenants/${t}/adapters/..\\..\\${o}/adapters/x/1/`,
    ],
    [
      "a prefix that only starts like the tenant",
      (t: string) => `s3://${bucket}/tenants/${t}x/adapters/x/1/`,
    ],
    ["the tenant's other data", (t: string) => `s3://${bucket}/tenants/${t}/files/x/`],
    ["another bucket", (t: string) => `s3://other-bucket/tenants/${t}/adapters/x/1/`],
  ])("path games (%s): 403 source_outside_tenant", async (_label, make) => {
    const r = await load("secret-bot", make(tenant, other));
    expectError(r, 403, "source_outside_tenant", /rejected for tenant/);
  });

  it.each([
    ["an https URL", "https://example.com/adapter/"],
    ["a local path", "/var/lib/adapters/x"],
    ["a bucket without a key", `s3://${bucket}/`],
  ])("a source that is not an s3:// object prefix (%s): 400 invalid_source", async (_label, source) => {
    const r = await load("x", source);
    expectError(r, 400, "invalid_source", /source/);
  });

  it.each([
    ["malformed JSON", "{not json", /not valid JSON/],
    [
      "a client-chosen lora_name",
      { tenant: "t", adapter: "a", version: 1, source: "s3://x/y", lora_name: "x" },
      /lora_name/,
    ],
    ["a missing version", { tenant: "t", adapter: "a", source: "s3://x/y" }, /version/],
    ["a version as a string", { tenant: "t", adapter: "a", version: "1", source: "s3://x/y" }, /version/],
    ["a negative version", { tenant: "t", adapter: "a", version: -1, source: "s3://x/y" }, /version/],
    [
      "a tenant name with a path in it",
      { tenant: "../t", adapter: "a", version: 1, source: "s3://x/y" },
      /tenant/,
    ],
    [
      "a malformed sha256",
      { tenant: "t", adapter: "a", version: 1, source: "s3://x/y", sha256: "abc" },
      /sha256/,
    ],
    ["an array body", "[]", /expected object/],
  ])("%s: 400 invalid_request naming the field", async (_label, body, message) => {
    expectError(await postLoad(body), 400, "invalid_request", message);
  });

  it("a body over 64 KiB: 413", async () => {
    const r = await postLoad({ tenant, adapter: "x", version: 1, source: "s".repeat(70_000) });
    expectError(r, 413, "invalid_request", /exceeds/);
  });

  it("unknown names and routes: 404/405/400 in the same shape", async () => {
    const del = await fetch(`${agent.url}/adapters/${tenant}--nope--v1--00000000`, { method: "DELETE" });
    expectError(
      { status: del.status, body: (await del.json()) as Answer["body"] },
      404,
      "not_found",
      /no adapter/,
    );
    const erase = await fetch(`${agent.url}/tenants/Not_A_Tenant/adapters`, { method: "DELETE" });
    expectError(
      { status: erase.status, body: (await erase.json()) as Answer["body"] },
      400,
      "invalid_request",
      /not a tenant name/,
    );
    const wrongMethod = await fetch(`${agent.url}/adapters/load`);
    expectError(
      { status: wrongMethod.status, body: (await wrongMethod.json()) as Answer["body"] },
      405,
      "invalid_request",
      /POST/,
    );
    const nowhere = await fetch(`${agent.url}/v1/models`);
    expectError(
      { status: nowhere.status, body: (await nowhere.json()) as Answer["body"] },
      404,
      "not_found",
      /no route/,
    );
  });

  it("after all of it: nothing in the cache, nothing in the engine, agent still serving", async () => {
    expect(await cacheContents(agent.cacheDir)).toEqual({ entries: [], temp: [] });
    expect(await engineAdapters(sim.url)).toEqual([]);
    expect((await agent.client.list()).adapters).toEqual([]);
    expect(agent.proc.child.exitCode).toBeNull();
    expect(await agent.client.health()).toEqual({ status: "ok", engine: "ok" });
  });
});
