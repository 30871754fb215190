import { createHash, randomBytes } from "node:crypto";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createS3Client } from "../../core/s3.ts";
import { uniqueName } from "../support/unique.ts";

describe("S3-compatible server (real server through @aws-sdk/client-s3)", () => {
  const cfg = loadServiceConfig();
  const prefix = `smoke/${uniqueName("s3")}/`;
  let s3: S3Client;

  beforeAll(() => {
    s3 = createS3Client(cfg);
  });
  afterAll(() => s3.destroy());

  it("puts, gets, lists and deletes a 16 MiB object", async () => {
    const body = randomBytes(16 * 1024 * 1024);
    const key = `${prefix}blob.bin`;
    await s3.send(new PutObjectCommand({ Bucket: cfg.S3_BUCKET, Key: key, Body: body }));

    const got = await s3.send(new GetObjectCommand({ Bucket: cfg.S3_BUCKET, Key: key }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(bytes.length).toBe(body.length);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(
      createHash("sha256").update(body).digest("hex"),
    );

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: cfg.S3_BUCKET, Prefix: prefix }));
    expect(listed.Contents?.map((o) => [o.Key, o.Size])).toEqual([[key, body.length]]);

    await s3.send(new DeleteObjectCommand({ Bucket: cfg.S3_BUCKET, Key: key }));
    const after = await s3.send(new ListObjectsV2Command({ Bucket: cfg.S3_BUCKET, Prefix: prefix }));
    expect(after.KeyCount ?? 0).toBe(0);
  });
});
