// /v1/vector_stores: create (optionally with files), list, retrieve, update, delete. Another
// tenant's store id is a 404 exactly like an id that does not exist (RLS reads, tenant-scoped writes).
import express, { type Router } from "express";
import { resolveChunking } from "../../retrieval/chunking.ts";
import { VectorStoreId } from "../../retrieval/ids.ts";
import { CreateStoreBody, UpdateStoreBody } from "../../retrieval/schemas.ts";
import { vectorStoreNotFound } from "../../retrieval/store-files.ts";
import { sendList } from "../api/list-page.ts";
import type { VectorStoreApiDeps } from "./deps.ts";
import { jsonBody, listQuery, pathId, tenantRoute } from "./http.ts";

export function createStoresApi(d: VectorStoreApiDeps): Router {
  const r = express.Router();
  const route = (h: Parameters<typeof tenantRoute>[1]) => tenantRoute(d.authenticate, h);
  const name = (c: { tenant: { metadata: { name: string } } }) => c.tenant.metadata.name;
  const storeId = (v: unknown) => pathId(VectorStoreId, v, vectorStoreNotFound);

  r.post(
    "/v1/vector_stores",
    route(async (caller, req, res) => {
      const body = await jsonBody(req, CreateStoreBody);
      const tenant = name(caller);
      const store = await d.stores.create(tenant, {
        name: body.name,
        description: body.description,
        metadata: body.metadata ?? undefined,
        expiresAfter: body.expires_after,
      });
      if (body.file_ids?.length) {
        const chunking = resolveChunking(body.chunking_strategy);
        const files = body.file_ids.map((fileId) => ({ fileId, attributes: {}, chunking }));
        try {
          await d.files.attach(tenant, store.id, files);
        } catch (err) {
          // A store whose files were refused is not left behind half made.
          await d.stores.remove(tenant, store.id);
          throw err;
        }
        await d.queue.add(files.map((f) => ({ tenant, vectorStoreId: store.id, fileId: f.fileId })));
      }
      res.json((await d.stores.get(tenant, store.id)) ?? store);
    }),
  );

  r.get(
    "/v1/vector_stores",
    route(async (caller, req, res) => {
      sendList(res, await d.stores.list(name(caller), listQuery(req, VectorStoreId)));
    }),
  );

  r.get(
    "/v1/vector_stores/:vs",
    route(async (caller, req, res) => {
      const id = storeId(req.params.vs);
      const store = await d.stores.get(name(caller), id);
      if (!store) throw vectorStoreNotFound(id);
      res.json(store);
    }),
  );

  r.post(
    "/v1/vector_stores/:vs",
    route(async (caller, req, res) => {
      const id = storeId(req.params.vs);
      const body = await jsonBody(req, UpdateStoreBody);
      const store = await d.stores.update(name(caller), id, {
        name: body.name,
        metadata: body.metadata,
        expiresAfter: body.expires_after,
      });
      if (!store) throw vectorStoreNotFound(id);
      res.json(store);
    }),
  );

  r.delete(
    "/v1/vector_stores/:vs",
    route(async (caller, req, res) => {
      const id = storeId(req.params.vs);
      if (!(await d.stores.remove(name(caller), id))) throw vectorStoreNotFound(id);
      res.json({ id, object: "vector_store.deleted", deleted: true });
    }),
  );
  return r;
}
