// Graceful shutdown of the API server: readiness fails at once (so the router's Pod leaves its
// Service), new requests are still served for `delayMs` (clients and proxies that have not
// noticed yet), then the listener closes and in-flight requests — streams included — get up to
// `graceMs` to finish; connections left idle are closed as soon as they are, and only what
// remains after the grace period is cut. While draining, every response that has not started
// tells its client to drop the connection, so a keep-alive client opens its next one elsewhere
// instead of reusing one that is about to close.
import type { Server, ServerResponse } from "node:http";
import { sleep } from "../core/sleep.ts";

/** Call before the server listens; the returned function shuts it down (once). */
export function gracefulCloser(server: Server): {
  draining(): boolean;
  close(graceMs: number, delayMs: number): Promise<void>;
} {
  const open = new Set<ServerResponse>();
  let draining = false;
  const dropConnection = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader("connection", "close");
  };
  server.prependListener("request", (_req, res) => {
    open.add(res);
    res.once("close", () => open.delete(res));
    if (draining) dropConnection(res);
  });
  let closing: Promise<void> | undefined;
  return {
    draining: () => draining,
    close(graceMs, delayMs) {
      closing ??= (async () => {
        draining = true;
        for (const res of open) dropConnection(res);
        if (delayMs > 0) await sleep(delayMs);
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const deadline = Date.now() + graceMs;
        while (open.size > 0 && Date.now() < deadline) {
          await sleep(25);
          server.closeIdleConnections();
        }
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
