// GET /v1/models and GET /v1/models/{id}: only the caller tenant's base models and adapters.
// Another tenant's adapter is answered exactly like a name that does not exist.
import type { IncomingMessage, ServerResponse } from "node:http";
import { modelNotFound, sendError } from "../../core/errors.ts";
import { NO_TENANT } from "../metrics.ts";
import type { RouterDeps } from "./deps.ts";

export async function handleModels(
  deps: RouterDeps,
  req: IncomingMessage,
  res: ServerResponse,
  receivedAt: number,
  requestId: string,
  id?: string,
): Promise<void> {
  let tenant = NO_TENANT;
  let status = 200;
  try {
    const auth = await deps.authenticate(req.headers.authorization, req.socket.remoteAddress);
    tenant = auth.tenant.metadata.name;
    const list = deps.listModels(auth.tenant);
    let payload: unknown = list;
    if (id !== undefined) {
      const found = list.data.find((m) => m.id === id);
      if (!found) throw modelNotFound(id);
      payload = found;
    }
    const body = JSON.stringify(payload);
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "x-loraplex-overhead-ms": (performance.now() - receivedAt).toFixed(3),
    });
    res.end(body);
  } catch (err) {
    status = (err as { status?: number }).status ?? 500;
    sendError(res, err);
    deps.logger.info({ reqId: requestId, tenant, status }, "models request refused");
  }
  deps.metrics.request(tenant, "(models)", status, performance.now() - receivedAt, false);
}
