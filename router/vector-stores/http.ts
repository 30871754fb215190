// Shared plumbing of the vector store routes: authenticate and answer every failure in OpenAI's
// error shape, read a bounded JSON body, parse it with a zod schema into a 400 that names the
// field, and parse ids and list parameters (a malformed id is a 404, like an unknown one).
import type { Request, Response } from "express";
import type { z } from "zod";
import { ApiError, sendError } from "../../core/errors.ts";
import type { Tenant } from "../../core/tenant.ts";
import { parseId } from "../../retrieval/ids.ts";
import type { ListQuery } from "../../retrieval/stores.ts";
import { parseJsonObject, readBody } from "../handlers/body.ts";

export type Caller = { tenant: Tenant; keyId: string };
export type Authenticate = (authorization: string | undefined) => Promise<Caller>;
export type Route = (caller: Caller, req: Request, res: Response) => Promise<void>;

const MAX_BODY_BYTES = 1024 * 1024;

export function tenantRoute(authenticate: Authenticate, handler: Route) {
  return async (req: Request, res: Response) => {
    try {
      await handler(await authenticate(req.headers.authorization), req, res);
    } catch (err) {
      if (!(err instanceof ApiError) && (err as { code?: string }).code === "57014") {
        sendError(res, new ApiError(503, "The search took too long; try again.", { code: "query_timeout" }));
        return;
      }
      sendError(res, err);
    }
  };
}

export async function jsonBody<S extends z.ZodType>(req: Request, schema: S): Promise<z.infer<S>> {
  const raw = await readBody(req, MAX_BODY_BYTES);
  const value = raw.length === 0 ? {} : parseJsonObject(raw);
  return parse(schema, value);
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = issue.path.map(String).join(".") || undefined;
  throw new ApiError(400, `Invalid ${param ? `'${param}'` : "request body"}: ${issue.message}`, {
    code: "invalid_request",
    param,
  });
}

/** A path id of the given kind, or the 404 an unknown id gets. */
export function pathId(schema: z.ZodString, value: unknown, notFound: (id: string) => ApiError): string {
  const id = parseId(schema, value);
  if (id === undefined) throw notFound(String(value).slice(0, 100));
  return id;
}

const badParam = (param: string, message: string) =>
  new ApiError(400, message, { code: "invalid_request", param });

/** OpenAI's list parameters limit (1-100, default 20) and order (asc/desc, default desc). */
export function limitAndOrder(req: Request): { limit: number; order: "asc" | "desc" } {
  const q = req.query as Record<string, unknown>;
  let limit = 20;
  if (q.limit !== undefined) {
    limit = Number(q.limit);
    if (typeof q.limit !== "string" || !Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw badParam("limit", "limit must be an integer from 1 to 100");
    }
  }
  const order = q.order ?? "desc";
  if (order !== "asc" && order !== "desc") throw badParam("order", "order must be 'asc' or 'desc'");
  return { limit, order };
}

/** limitAndOrder, and after/before ids of `cursor`'s kind. */
export function listQuery(req: Request, cursor: z.ZodString): ListQuery {
  const q = req.query as Record<string, unknown>;
  const id = (name: "after" | "before") => {
    if (q[name] === undefined) return undefined;
    const v = parseId(cursor, q[name]);
    if (v === undefined) throw badParam(name, `${name} must be an id returned by a previous list call`);
    return v;
  };
  return { ...limitAndOrder(req), after: id("after"), before: id("before") };
}
