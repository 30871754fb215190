import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CONFIG_FILE, checkAdapterDir, generateAdapter, WEIGHTS_FILE, writeAdapter } from "./peft.ts";

describe("PEFT adapter checks", async () => {
  const root = await mkdtemp(join(tmpdir(), "peft-"));
  afterAll(() => rm(root, { recursive: true, force: true }));
  const expectBase = { baseModel: "llama-3.1-8b-instruct", maxRank: 16 };

  it("accepts a generated adapter and sizes it as asked", async () => {
    const dir = join(root, "ok");
    const { sha256, bytes } = await writeAdapter(dir, {
      baseModel: "llama-3.1-8b-instruct",
      sizeBytes: 1 << 20,
    });
    const r = await checkAdapterDir(dir, expectBase);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.weightsSha256).toBe(sha256);
    expect(Math.abs(bytes - (1 << 20))).toBeLessThan(64 * 1024);
  });

  it("gives different weights for different seeds", () => {
    const a = generateAdapter({ baseModel: "m", seed: "a" }).weights;
    const b = generateAdapter({ baseModel: "m", seed: "b" }).weights;
    expect(a.equals(b)).toBe(false);
  });

  it.each([
    ["wrong base model", { baseModel: "other-model" }, {}, /trained for base model 'other-model'/],
    ["rank too large", { baseModel: "llama-3.1-8b-instruct", rank: 32 }, {}, /rank 32 is outside 1..16/],
    ["not LoRA", { baseModel: "llama-3.1-8b-instruct" }, { peft_type: "IA3" }, /peft_type is 'IA3'/],
  ])("rejects %s", async (_label, gen, override, message) => {
    const dir = join(root, `bad-${Math.random()}`);
    const { config } = generateAdapter(gen);
    await writeAdapter(dir, gen);
    await writeFile(join(dir, CONFIG_FILE), JSON.stringify({ ...config, ...override }));
    const r = await checkAdapterDir(dir, expectBase);
    expect(r).toMatchObject({ ok: false, code: "invalid" });
    if (!r.ok) expect(r.message).toMatch(message);
  });

  it("rejects a truncated or corrupt weights file and a missing directory", async () => {
    const dir = join(root, "corrupt");
    const { weights } = generateAdapter({ baseModel: expectBase.baseModel });
    await writeAdapter(dir, { baseModel: expectBase.baseModel });
    await writeFile(join(dir, WEIGHTS_FILE), weights.subarray(0, weights.length - 10));
    expect(await checkAdapterDir(dir, expectBase)).toMatchObject({
      ok: false,
      message: /offsets do not match/,
    });
    await writeFile(join(dir, WEIGHTS_FILE), Buffer.from("garbage!garbage!"));
    expect(await checkAdapterDir(dir, expectBase)).toMatchObject({ ok: false, code: "invalid" });
    expect(await checkAdapterDir(join(root, "nope"), expectBase)).toMatchObject({
      ok: false,
      code: "not_found",
    });
  });
});
