// What every route of the tenant-facing usage, audit and dashboard APIs shares: the caller an API
// key resolves to, and the wrapper that authenticates a request and answers any failure in
// OpenAI's error shape.
import type { Request, Response } from "express";
import type pg from "pg";
import { ApiError, sendError } from "../../core/errors.ts";
import type { Tenant } from "../../core/tenant.ts";
import type { Query } from "./api-params.ts";

export type Caller = { tenant: Tenant; keyId: string };

export type UsageApiDeps = {
  pool: pg.Pool;
  /** USD per GB-day of vector store storage (price table `retrieval.perGbDay`); 0 or absent: free. */
  storagePerGbDay?: number;
  /** The router's authenticator: the Authorization header → the caller, or an ApiError (401). */
  authenticate(authorization: string | undefined, source?: string): Promise<Caller>;
};

export type Handler = (caller: Caller, q: Query, res: Response) => Promise<void>;

/** Wraps a route: authenticate, run, answer any failure as an OpenAI-shaped error (never a bare 500). */
export function route(deps: UsageApiDeps, handler: Handler) {
  return async (req: Request, res: Response) => {
    try {
      const caller = await deps.authenticate(req.headers.authorization, req.socket.remoteAddress);
      await handler(caller, req.query as Query, res);
    } catch (err) {
      if (!(err instanceof ApiError) && (err as { code?: string }).code === "57014") {
        sendError(
          res,
          new ApiError(503, "The query took too long; narrow the time range.", { code: "query_timeout" }),
        );
        return;
      }
      sendError(res, err);
    }
  };
}
