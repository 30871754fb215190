// Reading and parsing a request body: bounded in size (413), parsed once (400 that says what
// is wrong), and required to be a JSON object, before anything else looks at it.
import type { IncomingMessage } from "node:http";
import { ApiError, invalidRequest } from "../../core/errors.ts";

/** nginx's 499: the client closed the connection before the request was read. */
export const clientClosed = () =>
  new ApiError(499, "The client closed the connection during the upload.", { code: "client_closed_request" });

function tooLarge(limit: number): ApiError {
  return new ApiError(413, `Request body is larger than the limit of ${limit} bytes.`, {
    code: "request_too_large",
  });
}

/**
 * Buffers the body up to `limit` bytes. On overflow it rejects at once with 413 and stops
 * buffering; Node's server then drains the rest of the upload so the client still reads the 413.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    // A client that goes away mid-upload ('aborted' error, or a close without one) is the client's
    // doing: a 499, logged without a stack, never a 500.
    const onError = () => {
      cleanup();
      reject(clientClosed());
    };
    const onClose = onError;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/** One JSON.parse; the body must be an object. */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) throw invalidRequest("The request body is empty; expected a JSON object.");
  let text = raw.toString("utf8");
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // tolerate a UTF-8 byte-order mark
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // V8's message quotes a piece of the body; keep only the position, so neither the answer
    // nor the log line carries prompt text.
    const at = /at position (\d+)/.exec((e as Error).message)?.[1];
    throw invalidRequest(
      `We could not parse the JSON body of your request${at ? ` (invalid JSON at position ${at})` : " (invalid or truncated JSON)"}. ` +
        "Send a JSON object with Content-Type: application/json.",
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidRequest("The request body must be a JSON object.");
  }
  return value as Record<string, unknown>;
}
