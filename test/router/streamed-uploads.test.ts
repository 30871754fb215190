// Uploads stream to S3 (issue 13, item 6): a 192 MiB fine-tuning file passes through the router
// with its memory bounded (the peak resident set, read from /proc, grows by less than the file:
// it was never held whole; buffering it took three copies and more), and an upload that is too large or abandoned by its client leaves neither an object nor
// an unfinished multipart upload behind. The S3 server is a dedicated one, so that listing its
// unfinished multipart uploads shows every one the router left. The over-limit upload goes to a
// second router with a small limit: the 413 path is the same at any limit, and sending the big
// router's 194 MiB just to pass it took ~8 s of every run.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createS3Client } from "../../core/s3.ts";
import { type RouterProc, startRouterProcess } from "../support/stack.ts";
import { type DedicatedS3, startDedicatedS3 } from "../support/throwaway-servers.ts";
import { type Stack, scrapeCounter, startStack, until } from "./harness.ts";

const MiB = 1024 * 1024;
const MAX_FILE_BYTES = 194 * MiB;
const BIG = 192 * MiB;
/** The second router's limit: several 5 MiB parts are uploaded before the upload goes over it. */
const SMALL_MAX_FILE_BYTES = 24 * MiB;
/**
 * The most the router's peak memory may grow while it takes in the file. A router that buffers
 * the upload holds it at least twice at once (its chunks and their concatenation; 894 MiB was
 * measured for 128 MiB), so any bound under twice the file tells the two apart. The bound is not
 * the file itself because socket buffers wait for the garbage collector: a bare node:http server
 * that only discards a 128 MiB body already peaks 74 MiB higher (86 MiB for 256 MiB), and the
 * upload adds its S3 parts. Measured: 89-114 MiB for 128 MiB, 140-155 MiB for 192 MiB under load.
 */
const MEMORY_BOUND = 1.5 * BIG;

let s3server: DedicatedS3;
let stack: Stack;
let smallLimit: RouterProc;
let s3: S3Client;
let bucket: string;

beforeAll(async () => {
  bucket = loadServiceConfig().S3_BUCKET;
  s3server = await startDedicatedS3(bucket);
  // The router, its agents and the harness all take S3 from the environment (child processes
  // inherit this file's environment).
  process.env.S3_ENDPOINT = s3server.url;
  process.env.LORAPLEX_MAX_FILE_BYTES = String(MAX_FILE_BYTES);
  s3 = createS3Client(loadServiceConfig());
  stack = await startStack({ sharedReplicas: 1, dedicatedReplicas: 0 });
  // Same tenants, keys (same schema), engine and S3 server; only the file limit differs.
  smallLimit = await startRouterProcess({
    tenantsDir: stack.tenantsDir,
    engines: `loraplex-system/shared=${stack.shared[0]!.flag}`,
    dbSchema: stack.schema,
    env: { LORAPLEX_DEV_SECRETS: "1", LORAPLEX_MAX_FILE_BYTES: String(SMALL_MAX_FILE_BYTES) },
    name: "router (small file limit)",
  });
}, 120_000);
afterAll(async () => {
  await smallLimit?.proc.stop();
  await stack?.stop();
  s3?.destroy();
  await s3server?.stop();
});

const example = `${JSON.stringify({
  messages: [
    { role: "user", content: "What is the capital of France?" },
    { role: "assistant", content: "Paris." },
  ],
})}\n`;
const BOUNDARY = "loraplex-stream-test";
const head = (filename: string) =>
  `--${BOUNDARY}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\n` +
  "content-type: application/jsonl\r\n\r\n";
const tail = `\r\n--${BOUNDARY}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n--${BOUNDARY}--\r\n`;

/** The largest whole number of examples that fits in `bytes`, in bytes. */
const whole = (bytes: number) => bytes - (bytes % example.length);

/** JSONL examples, `bytes` (from whole()) long, made 1 MiB at a time: the test never holds the file. */
function* jsonl(bytes: number): Generator<Buffer> {
  const perPiece = Math.floor(MiB / example.length);
  const piece = Buffer.from(example.repeat(perPiece));
  for (let left = bytes / example.length; left > 0; left -= perPiece) {
    yield left >= perPiece ? piece : Buffer.from(example.repeat(left));
  }
}

type Sent = { status: number; body: string };

/**
 * POSTs a multipart upload of `bytes` of JSONL (file first, purpose after, as the openai clients
 * send it), without content-length, to the stack's router unless `url` names another.
 * `abortAfter` destroys the connection after that many bytes.
 */
function upload(bytes: number, opts: { abortAfter?: number; url?: string } = {}) {
  const hash = createHash("sha256");
  const done = new Promise<Sent>((resolve, reject) => {
    const req = request(`${opts.url ?? stack.url}/v1/files`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${stack.keys[stack.acme]}`,
        "content-type": `multipart/form-data; boundary=${BOUNDARY}`,
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", (e) => (opts.abortAfter !== undefined ? resolve({ status: 0, body: "" }) : reject(e)));
    void (async () => {
      req.write(head("big.jsonl"));
      let sent = 0;
      for (const piece of jsonl(bytes)) {
        if (req.destroyed) return;
        hash.update(piece);
        sent += piece.length;
        if (!req.write(piece)) await new Promise((ok) => req.once("drain", ok));
        if (opts.abortAfter !== undefined && sent >= opts.abortAfter) {
          // Let the router take in what was sent, then vanish mid-file.
          await until(async () => (await pendingUploads()).length > 0, "a multipart upload is under way");
          req.destroy();
          return;
        }
      }
      req.end(tail);
    })().catch(reject);
  });
  return { done, sha256: () => hash.digest("hex") };
}

const filesPrefix = () => `tenants/${stack.acme}/files/`;
async function pendingUploads(): Promise<string[]> {
  const out = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: filesPrefix() }));
  return (out.Uploads ?? []).map((u) => u.UploadId!);
}
async function storedFiles(): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: filesPrefix() }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

/** Resident memory of the router process, from /proc: now, and the peak since the last reset. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

describe("streamed uploads (item 6)", () => {
  it("stores a 192 MiB fine-tuning file while the router's memory grows by well under twice the file", async () => {
    const pid = stack.routerPid!;
    // Writing 5 to clear_refs resets the peak (VmHWM) to the current resident set.
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    const before = memory(pid).rss;
    const big = upload(whole(BIG));
    const answer = await big.done;
    expect(answer.status, answer.body).toBe(200);
    const growth = memory(pid).peak - before;
    const file = JSON.parse(answer.body) as { id: string; bytes: number };
    expect(file.bytes).toBe(whole(BIG));
    console.log(`router peak RSS growth during a ${BIG / MiB} MiB upload: ${(growth / MiB).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(MEMORY_BOUND);

    // The stored bytes are the sent bytes.
    const content = await fetch(`${stack.url}/v1/files/${file.id}/content`, {
      headers: { authorization: `Bearer ${stack.keys[stack.acme]}` },
    });
    const hash = createHash("sha256");
    for await (const piece of content.body!) hash.update(piece);
    expect(hash.digest("hex")).toBe(big.sha256());
    expect(await pendingUploads()).toEqual([]);
    await fetch(`${stack.url}/v1/files/${file.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${stack.keys[stack.acme]}` },
    });
  }, 180_000);

  it("answers an upload over the limit with 413 and keeps neither its object nor its parts", async () => {
    const kept = await storedFiles();
    const answer = await upload(whole(SMALL_MAX_FILE_BYTES + 2 * MiB), { url: smallLimit.url }).done;
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error).toMatchObject({ code: "file_too_large", param: "file" });
    expect(await pendingUploads()).toEqual([]);
    expect(await storedFiles()).toEqual(kept);
  }, 180_000);

  it("aborts the multipart upload of a client that leaves mid-file, and frees its upload slot", async () => {
    const kept = await storedFiles();
    await upload(whole(32 * MiB), { abortAfter: 12 * MiB }).done;
    await until(
      async () => (await pendingUploads()).length === 0,
      "the abandoned multipart upload is aborted",
    );
    expect(await storedFiles()).toEqual(kept);
    // Both of the tenant's upload slots are free again: two small uploads at once succeed.
    const small = await Promise.all([upload(example.length * 10).done, upload(example.length * 10).done]);
    expect(small.map((s) => s.status)).toEqual([200, 200]);
    // Counted as the client's 499, never as a 500, and logged without a stack trace.
    const uploads = (status: number) =>
      scrapeCounter(
        stack.metricsUrl,
        "loraplex_router_requests_total",
        `tenant="${stack.acme}",model="(files)",status="${status}"`,
      );
    expect(await uploads(499)).toBe(1);
    expect(await uploads(500)).toBe(0);
    expect(await uploads(200)).toBe(3);
    expect(stack.routerLog()).not.toMatch(/"stack"/);
  }, 180_000);

  it("refuses an invalid fine-tuning file whose purpose comes after it, storing nothing", async () => {
    const r = await fetch(`${stack.url}/v1/files`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${stack.keys[stack.initech]}`,
        "content-type": `multipart/form-data; boundary=${BOUNDARY}`,
      },
      body: `${head("bad.jsonl")}${example}{"not": "an example"}\n${tail}`,
    });
    const error = ((await r.json()) as { error: { code: string; param: string; message: string } }).error;
    expect(r.status).toBe(400);
    expect(error).toMatchObject({ code: "invalid_file_format", param: "file" });
    expect(error.message).toContain("line 2");
    const out = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `tenants/${stack.initech}/files/` }),
    );
    expect(out.Contents ?? []).toEqual([]);
  });
});
