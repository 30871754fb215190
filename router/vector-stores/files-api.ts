// /v1/vector_stores/{id}/files and /file_batches: attach files (queued for ingestion), list,
// retrieve, update attributes, detach, read the parsed content; batches create, retrieve,
// cancel and list their files. A store, file or batch id of another tenant — or of another
// store — is a 404 exactly like one that does not exist.
import express, { type Request, type Response, type Router } from "express";
import type { z } from "zod";
import { ApiError } from "../../core/errors.ts";
import { resolveChunking } from "../../retrieval/chunking.ts";
import { FileBatchId, FileId, VectorStoreId } from "../../retrieval/ids.ts";
import type { FileStatus } from "../../retrieval/objects.ts";
import { CreateBatchBody, CreateFileBody, UpdateFileBody } from "../../retrieval/schemas.ts";
import { vectorStoreNotFound } from "../../retrieval/store-files.ts";
import { sendList } from "../api/list-page.ts";
import type { VectorStoreApiDeps } from "./deps.ts";
import { jsonBody, listQuery, pathId, tenantRoute } from "./http.ts";

const fileNotFound = (id: string) =>
  new ApiError(404, `No file found with id '${id}' in this vector store.`, {
    code: "file_not_found",
    param: "file_id",
  });
const batchNotFound = (id: string) =>
  new ApiError(404, `No file batch found with id '${id}'.`, {
    code: "file_batch_not_found",
    param: "batch_id",
  });

const STATUSES: FileStatus[] = ["in_progress", "completed", "failed", "cancelled"];
/** How soon the SDK's createAndPoll/poll helpers should ask again. */
const POLL_HEADERS = { "openai-poll-after-ms": "250" };

function statusFilter(v: unknown): FileStatus | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !STATUSES.includes(v as FileStatus)) {
    throw new ApiError(400, `filter must be one of: ${STATUSES.join(", ")}`, {
      code: "invalid_request",
      param: "filter",
    });
  }
  return v as FileStatus;
}

export function createStoreFilesApi(d: VectorStoreApiDeps): Router {
  const r = express.Router();
  const route = (h: Parameters<typeof tenantRoute>[1]) => tenantRoute(d.authenticate, h);
  const storeId = (v: unknown) => pathId(VectorStoreId, v, vectorStoreNotFound);
  const fileId = (v: unknown) => pathId(FileId, v, fileNotFound);
  const batchId = (v: unknown) => pathId(FileBatchId, v, batchNotFound);
  const json = (res: Response, body: unknown) => res.set(POLL_HEADERS).json(body);
  /** A route under /v1/vector_stores/:vs/{files/:file | file_batches/:batch}: ids parsed (404 if malformed). */
  type Item = { tenant: string; vs: string; id: string };
  const itemRoute = (param: "file" | "batch", h: (it: Item, req: Request, res: Response) => Promise<void>) =>
    route(async (caller, req, res) => {
      const vs = storeId(req.params.vs);
      const id = param === "file" ? fileId(req.params.file) : batchId(req.params.batch);
      await h({ tenant: caller.tenant.metadata.name, vs, id }, req, res);
    });
  /** Answers the batch `find` returns, or the batch's 404. */
  const batchRoute = (find: (it: Item) => Promise<unknown>) =>
    itemRoute("batch", async (it, _req, res) => {
      const b = await find(it);
      if (!b) throw batchNotFound(it.id);
      json(res, b);
    });

  /** A POST on /v1/vector_stores/:vs/...: the store id parsed, the body parsed with `schema`. */
  const storePost = <S extends z.ZodType>(
    schema: S,
    h: (at: { tenant: string; vs: string }, body: z.infer<S>, res: Response) => Promise<void>,
  ) =>
    route(async (caller, req, res) => {
      const vs = storeId(req.params.vs);
      await h({ tenant: caller.tenant.metadata.name, vs }, await jsonBody(req, schema), res);
    });

  r.post(
    "/v1/vector_stores/:vs/files",
    storePost(CreateFileBody, async ({ tenant, vs }, body, res) => {
      const chunking = resolveChunking(body.chunking_strategy);
      const out = await d.files.attach(tenant, vs, [
        { fileId: body.file_id, attributes: body.attributes ?? {}, chunking },
      ]);
      if (!out) throw vectorStoreNotFound(vs);
      await d.queue.add([{ tenant, vectorStoreId: vs, fileId: body.file_id }]);
      json(res, out[0]);
    }),
  );

  r.get(
    "/v1/vector_stores/:vs/files",
    route(async (caller, req, res) => {
      const vs = storeId(req.params.vs);
      const q = { ...listQuery(req, FileId), status: statusFilter(req.query.filter) };
      const page = await d.files.list(caller.tenant.metadata.name, vs, q);
      if (!page) throw vectorStoreNotFound(vs);
      sendList(res, page);
    }),
  );

  r.get(
    "/v1/vector_stores/:vs/files/:file",
    itemRoute("file", async ({ tenant, vs, id }, _req, res) => {
      const f = await d.files.get(tenant, vs, id);
      if (!f) throw fileNotFound(id);
      json(res, f);
    }),
  );

  r.post(
    "/v1/vector_stores/:vs/files/:file",
    itemRoute("file", async ({ tenant, vs, id }, req, res) => {
      const body = await jsonBody(req, UpdateFileBody);
      const f = await d.files.updateAttributes(tenant, vs, id, body.attributes ?? {});
      if (!f) throw fileNotFound(id);
      json(res, f);
    }),
  );

  r.delete(
    "/v1/vector_stores/:vs/files/:file",
    itemRoute("file", async ({ tenant, vs, id }, _req, res) => {
      if (!(await d.files.remove(tenant, vs, id))) throw fileNotFound(id);
      res.json({ id, object: "vector_store.file.deleted", deleted: true });
    }),
  );

  r.get(
    "/v1/vector_stores/:vs/files/:file/content",
    itemRoute("file", async ({ tenant, vs, id }, _req, res) => {
      const chunks = await d.files.content(tenant, vs, id);
      if (!chunks) throw fileNotFound(id);
      res.json({
        object: "vector_store.file_content.page",
        data: chunks.map((text) => ({ type: "text", text })),
        has_more: false,
        next_page: null,
      });
    }),
  );

  r.post(
    "/v1/vector_stores/:vs/file_batches",
    storePost(CreateBatchBody, async ({ tenant, vs }, body, res) => {
      const defaults = {
        attributes: body.attributes ?? {},
        chunking: resolveChunking(body.chunking_strategy),
      };
      const files = body.files
        ? body.files.map((f) => ({
            fileId: f.file_id,
            attributes: f.attributes ?? defaults.attributes,
            chunking: f.chunking_strategy ? resolveChunking(f.chunking_strategy) : defaults.chunking,
          }))
        : (body.file_ids ?? []).map((id) => ({ fileId: id, ...defaults }));
      const unique = [...new Map(files.map((f) => [f.fileId, f])).values()];
      const batch = await d.files.createBatch(tenant, vs, unique);
      if (!batch) throw vectorStoreNotFound(vs);
      await d.queue.add(unique.map((f) => ({ tenant, vectorStoreId: vs, fileId: f.fileId })));
      json(res, batch);
    }),
  );

  r.get(
    "/v1/vector_stores/:vs/file_batches/:batch",
    batchRoute(({ tenant, vs, id }) => d.files.getBatch(tenant, vs, id)),
  );

  r.post(
    "/v1/vector_stores/:vs/file_batches/:batch/cancel",
    batchRoute(({ tenant, vs, id }) => d.files.cancelBatch(tenant, vs, id)),
  );

  r.get(
    "/v1/vector_stores/:vs/file_batches/:batch/files",
    itemRoute("batch", async ({ tenant, vs, id }, req, res) => {
      if (!(await d.files.getBatch(tenant, vs, id))) throw batchNotFound(id);
      const q = { ...listQuery(req, FileId), status: statusFilter(req.query.filter), batchId: id };
      const page = await d.files.list(tenant, vs, q);
      if (!page) throw vectorStoreNotFound(vs);
      sendList(res, page);
    }),
  );
  return r;
}
