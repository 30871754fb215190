// The development and test S3 server: s3rver, plus the two multipart calls it lacks and the
// router relies on. AbortMultipartUpload (DELETE ?uploadId) deletes an unfinished upload's parts;
// ListMultipartUploads (GET ?uploads) lists the unfinished ones, so a test can prove none is left.
// Both work on s3rver's own on-disk layout (an upload is a folder under the bucket's uploads
// resource, holding `key`, `metadata` and one file per part).
//
//   node scripts/s3-server.ts --port 29000 --directory DIR --configure-bucket loraplex [--silent]
import { readdir, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseArgs } from "node:util";

// s3rver ships no types: the part of it used here.
type S3rverApp = {
  store: { getResourcePath(bucket: string, key: string | undefined, resource: string): string };
  configureBuckets(): Promise<void>;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
};
const S3rver = createRequire(import.meta.url)("s3rver") as new (opts: object) => S3rverApp;

const { values: flags } = parseArgs({
  options: {
    address: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "29000" },
    directory: { type: "string" },
    "configure-bucket": { type: "string", multiple: true, default: [] },
    silent: { type: "boolean", default: false },
  },
});
if (!flags.directory) throw new Error("--directory is required");

const s3rver = new S3rver({
  directory: flags.directory,
  silent: flags.silent,
  configureBuckets: flags["configure-bucket"].map((name) => ({ name })),
});
const uploadsDir = (bucket: string) => s3rver.store.getResourcePath(bucket, undefined, "uploads");
const xml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

function send(res: ServerResponse, status: number, body = ""): void {
  res.writeHead(status, { "content-type": "application/xml" }).end(body);
}

async function abortUpload(res: ServerResponse, bucket: string, key: string, uploadId: string) {
  const dir = join(uploadsDir(bucket), uploadId);
  const owner = /^[0-9a-f]+$/.test(uploadId)
    ? await readFile(join(dir, "key"), "utf8").catch(() => null)
    : null;
  if (owner !== key) {
    send(res, 404, `<Error><Code>NoSuchUpload</Code><Message>No such upload</Message></Error>`);
    return;
  }
  await rm(dir, { recursive: true, force: true });
  send(res, 204);
}

async function listUploads(res: ServerResponse, bucket: string, prefix: string) {
  const ids = await readdir(uploadsDir(bucket)).catch(() => [] as string[]);
  const uploads: string[] = [];
  for (const id of ids.sort()) {
    const key = await readFile(join(uploadsDir(bucket), id, "key"), "utf8").catch(() => null);
    if (key?.startsWith(prefix)) {
      uploads.push(`<Upload><Key>${xml(key)}</Key><UploadId>${xml(id)}</UploadId></Upload>`);
    }
  }
  send(
    res,
    200,
    `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${xml(bucket)}</Bucket>` +
      `<Prefix>${xml(prefix)}</Prefix><IsTruncated>false</IsTruncated>${uploads.join("")}</ListMultipartUploadsResult>`,
  );
}

/** The two calls above, or undefined to leave the request to s3rver. */
function extra(req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
  const url = new URL(req.url ?? "/", "http://s3");
  const [bucket, ...rest] = url.pathname.slice(1).split("/");
  if (!bucket) return undefined;
  const key = decodeURIComponent(rest.join("/"));
  const uploadId = url.searchParams.get("uploadId");
  if (req.method === "DELETE" && key && uploadId) return abortUpload(res, bucket, key, uploadId);
  if (req.method === "GET" && !key && url.searchParams.has("uploads")) {
    return listUploads(res, bucket, url.searchParams.get("prefix") ?? "");
  }
  return undefined;
}

await s3rver.configureBuckets();
const handle = s3rver.callback();
const server = createServer((req, res) => {
  const own = extra(req, res);
  if (!own) return handle(req, res);
  own.catch(() => send(res, 500, "<Error><Code>InternalError</Code></Error>"));
});
server.listen(Number(flags.port), flags.address, () => {
  const a = server.address();
  console.log(`s3 server listening on ${typeof a === "object" && a ? `${a.address}:${a.port}` : a}`);
});
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.on(signal, () => server.close(() => process.exit(0)));
