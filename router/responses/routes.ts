// GET /v1/responses/{id}, DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items: the
// caller's own stored responses only. An id of another tenant, a malformed id and an unknown id
// get the same 404. (POST /v1/responses is on the hot path: handler.ts.)
import express, { type Request, type Router } from "express";
import { ApiError } from "../../core/errors.ts";
import { type Authenticate, limitAndOrder, tenantRoute } from "../vector-stores/http.ts";
import type { ResponseStore } from "./store.ts";
import { responseNotFound } from "./store.ts";

export function createResponsesRouter(d: { authenticate: Authenticate; store: ResponseStore }): Router {
  const r = express.Router();
  r.get(
    "/v1/responses/:id",
    tenantRoute(d.authenticate, async (caller, req, res) => {
      const found = await d.store.get(caller.tenant.metadata.name, req.params.id);
      if (!found) throw responseNotFound(String(req.params.id));
      res.json(found.response);
    }),
  );
  r.delete(
    "/v1/responses/:id",
    tenantRoute(d.authenticate, async (caller, req, res) => {
      const id = String(req.params.id);
      if (!(await d.store.remove(caller.tenant.metadata.name, id))) throw responseNotFound(id);
      res.json({ id, object: "response.deleted", deleted: true });
    }),
  );
  r.get(
    "/v1/responses/:id/input_items",
    tenantRoute(d.authenticate, async (caller, req, res) => {
      const found = await d.store.get(caller.tenant.metadata.name, req.params.id);
      if (!found) throw responseNotFound(String(req.params.id));
      const q = listParams(req);
      let items = q.order === "asc" ? found.inputItems : [...found.inputItems].reverse();
      const cursor = q.after === undefined ? -1 : items.findIndex((x) => x.id === q.after);
      if (q.after !== undefined && cursor < 0)
        throw badParam("after", "after must be an item id of this response");
      items = items.slice(cursor + 1);
      const data = items.slice(0, q.limit);
      res.json({
        object: "list",
        data,
        first_id: data[0]?.id ?? null,
        last_id: data.at(-1)?.id ?? null,
        has_more: items.length > data.length,
      });
    }),
  );
  return r;
}

const badParam = (param: string, message: string) =>
  new ApiError(400, message, { code: "invalid_request", param });

/** limit and order as every list route takes them; `after` is an input item id. */
function listParams(req: Request): { limit: number; order: "asc" | "desc"; after?: string } {
  const after = (req.query as Record<string, unknown>).after;
  if (after !== undefined && typeof after !== "string") throw badParam("after", "after must be an item id");
  return { ...limitAndOrder(req), after };
}
