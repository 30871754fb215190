// The OpenAI-compatible files API (tenant key): upload a file (multipart, streamed to S3 and, for
// fine-tuning, validated line by line on the way), list, retrieve, download and delete. Every route answers
// failures in OpenAI's error shape; another tenant's file id is a 404 like an unknown one.
import { pipeline } from "node:stream/promises";
import express, { type Request, type Response, type Router } from "express";
import { ApiError, invalidRequest, sendError } from "../../core/errors.ts";
import type { Tenant } from "../../core/tenant.ts";
import { sendList } from "../api/list-page.ts";
import { clientClosed } from "../handlers/body.ts";
import type { FilesStore } from "./files-store.ts";
import { receiveUpload } from "./receive-upload.ts";

const DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024;
// fine-tune: chat JSONL for fine-tuning (validated on upload); assistants: any file meant for
// vector stores (its text is extracted and checked when it is attached, retrieval/extract.ts).
const PURPOSES = ["fine-tune", "assistants"];

export type Caller = { tenant: Tenant; keyId: string };

export type FilesApiDeps = {
  store: FilesStore;
  authenticate(authorization: string | undefined, source?: string): Promise<Caller>;
  maxFileBytes?: number;
  /** Uploads one tenant may have in progress on this router at once; more is a 429 (default 2). */
  maxConcurrentUploads?: number;
  /** Called once per authenticated upload with its answer's status (499: the client left). */
  onUpload?(tenant: string, status: number, ms: number): void;
};

const DEFAULT_MAX_CONCURRENT_UPLOADS = 2;

type Route = (caller: Caller, req: Request, res: Response) => Promise<void>;

/** Authenticates, runs, and turns every failure into an OpenAI-shaped error. */
export function tenantRoute(authenticate: FilesApiDeps["authenticate"], handler: Route) {
  return async (req: Request, res: Response) => {
    try {
      await handler(await authenticate(req.headers.authorization, req.socket.remoteAddress), req, res);
    } catch (err) {
      sendError(res, asClientError(err, req));
    }
  };
}

/** A client that went away mid-upload is its own doing (499), not the router's 500. */
function asClientError(err: unknown, req: Request): unknown {
  const gone = !(err instanceof ApiError) && (req.readableAborted || req.socket.destroyed);
  return gone ? clientClosed() : err;
}

const fileNotFound = (id: string, param = "file_id") =>
  new ApiError(404, `No such File object: ${id.slice(0, 100)}`, { code: "file_not_found", param });

/** The shape of every id newFileId() makes; anything else cannot exist and never reaches a query. */
const FILE_ID = /^file-[0-9a-f]{24}$/;

export function createFilesApi(deps: FilesApiDeps): Router {
  const maxBytes = deps.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxUploads = deps.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS;
  // Uploads in progress per tenant: each holds an S3 connection and a few parts of memory.
  const uploading = new Map<string, number>();
  const r = express.Router();
  const route = (h: Route) => tenantRoute(deps.authenticate, h);
  const tenantOf = (c: Caller) => c.tenant.metadata.name;

  r.post(
    "/v1/files",
    route(async (caller, req, res) => {
      const started = performance.now();
      const tenant = tenantOf(caller);
      let status = 200;
      try {
        await limited(caller, req, res);
      } catch (err) {
        const e = asClientError(err, req);
        status = e instanceof ApiError ? e.status : 500;
        throw e;
      } finally {
        deps.onUpload?.(tenant, status, performance.now() - started);
      }
    }),
  );
  /** The per-tenant bound on uploads in progress around one upload. */
  const limited: Route = async (caller, req, res) => {
    const tenant = tenantOf(caller);
    const active = uploading.get(tenant) ?? 0;
    if (active >= maxUploads) {
      req.resume();
      throw new ApiError(
        429,
        `This tenant already has ${active} uploads in progress; wait for one to finish.`,
        {
          code: "too_many_uploads",
          headers: { "retry-after": "5" },
        },
      );
    }
    uploading.set(tenant, active + 1);
    try {
      await upload(caller, req, res);
    } finally {
      const left = (uploading.get(tenant) ?? 1) - 1;
      if (left > 0) uploading.set(tenant, left);
      else uploading.delete(tenant);
    }
  };
  const upload: Route = async (caller, req, res) => {
    const tenant = tenantOf(caller);
    const id = deps.store.newId();
    const form = await receiveUpload(req, {
      maxBytes,
      purposes: PURPOSES,
      store: (body) => deps.store.putContent(tenant, id, body),
    });
    const fallbackName = form.purpose === "fine-tune" ? "upload.jsonl" : "upload.txt";
    const name = form.filename && form.filename !== "blob" ? form.filename : fallbackName;
    const filename = name.replaceAll("\u0000", "").slice(0, 255);
    res.json(await deps.store.register(tenant, { id, filename, purpose: form.purpose, bytes: form.bytes }));
  };

  r.get(
    "/v1/files",
    route(async (caller, req, res) => {
      const q = req.query as Record<string, unknown>;
      const limit = intParam(q.limit, "limit", 1, 10_000, 10_000);
      const order = q.order === undefined ? "desc" : q.order;
      if (order !== "asc" && order !== "desc") throw invalidRequest("order must be 'asc' or 'desc'", "order");
      const purpose = q.purpose === undefined ? undefined : String(q.purpose);
      const after = idParam(q.after, "after", FILE_ID);
      sendList(res, await deps.store.list(tenantOf(caller), { purpose, limit, after, order }));
    }),
  );

  r.get(
    "/v1/files/:id",
    route(async (caller, req, res) => {
      const id = String(req.params.id);
      const f = FILE_ID.test(id) ? await deps.store.get(tenantOf(caller), id) : undefined;
      if (!f) throw fileNotFound(id);
      res.json(f);
    }),
  );

  r.get(
    "/v1/files/:id/content",
    route(async (caller, req, res) => {
      const id = String(req.params.id);
      const body = FILE_ID.test(id) ? await deps.store.content(tenantOf(caller), id) : undefined;
      if (!body) throw fileNotFound(id);
      res.type("application/octet-stream");
      // Streamed: a download holds a chunk at a time. A client that leaves ends it, quietly.
      await pipeline(body, res).catch(() => {});
    }),
  );

  r.delete(
    "/v1/files/:id",
    route(async (caller, req, res) => {
      const id = String(req.params.id);
      if (!FILE_ID.test(id) || !(await deps.store.remove(tenantOf(caller), id))) throw fileNotFound(id);
      res.json({ id, object: "file", deleted: true });
    }),
  );
  return r;
}

/** An optional id parameter (a page cursor): absent, or exactly the shape our ids have. */
export function idParam(v: unknown, name: string, shape: RegExp): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !shape.test(v))
    throw invalidRequest(`'${name}' must be an id this API returned.`, name);
  return v;
}

export function intParam(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== "string" || !Number.isInteger(n) || n < min || n > max) {
    throw invalidRequest(`${name} must be an integer from ${min} to ${max}`, name);
  }
  return n;
}
