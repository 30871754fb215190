// `loraplex adapters generate`, run as a real process: a valid PEFT LoRA adapter to a folder
// and to a tenant's S3 prefix, and clear usage errors.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAdapterDir } from "../../core/peft.ts";
import { adapterPrefix } from "../../core/storage-layout.ts";
import { runLoraplex } from "../support/process.ts";
import { uniqueName } from "../support/unique.ts";
import { BASE_MODEL, bucket, s3 } from "./harness.ts";

const loraplex = (args: string[]) => runLoraplex(args);

describe("loraplex adapters generate", () => {
  let dir: string;
  let s3c: S3Client;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gen-"));
    s3c = s3();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    s3c?.destroy();
  });

  it("writes an adapter the engine's checks accept, of about the size asked", async () => {
    const out = join(dir, "a");
    const r = await loraplex([
      "adapters",
      "generate",
      "--base-model",
      BASE_MODEL,
      "--rank",
      "16",
      "--size",
      "1MiB",
      "--out",
      out,
    ]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { sha256: string; bytes: number; out: string };
    const check = await checkAdapterDir(out, { baseModel: BASE_MODEL, maxRank: 16 });
    expect(check).toMatchObject({
      ok: true,
      weightsSha256: summary.sha256,
      config: { r: 16, peft_type: "LORA" },
    });
    expect(Math.abs(summary.bytes - (1 << 20))).toBeLessThan(64 * 1024);
  });

  it("uploads the same adapter to a tenant's prefix", async () => {
    const prefix = adapterPrefix(uniqueName("gen"), "bot", 3);
    const r = await loraplex([
      "adapters",
      "generate",
      "--base-model",
      BASE_MODEL,
      "--seed",
      "s1",
      "--upload",
      `s3://${bucket}/${prefix}`,
      "--out",
      join(dir, "b"),
    ]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { sha256: string; uri: string };
    expect(summary.uri).toBe(`s3://${bucket}/${prefix}`);
    const got = await s3c.send(
      new GetObjectCommand({ Bucket: bucket, Key: `${prefix}adapter_model.safetensors` }),
    );
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(summary.sha256);
  });

  it.each([
    [["adapters", "generate", "--out", "x"], /--base-model is required/],
    [["adapters", "generate", "--base-model", "m"], /give --out DIR, --upload S3_URI, or both/],
    [["adapters", "generate", "--base-model", "m", "--size", "huge", "--out", "x"], /not a byte size/],
    [["adapters", "generate", "--base-model", "m", "--upload", "http://x/y"], /not an s3:\/\/bucket/],
    [["adapters", "generate", "--bogus"], /Unknown option '--bogus'/],
    [["adapters", "frobnicate"], /unknown subcommand 'frobnicate'/],
  ])("%j → exit 2 with the reason and usage", async (args, message) => {
    const r = await loraplex(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/usage: loraplex adapters generate/);
  });
});
