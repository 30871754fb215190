// Reads a multipart/form-data upload as a stream (@fastify/busboy): the `file` part flows through
// a gate that counts it and checks it line by line on its way to storage, while the `purpose`
// field may come before or after it (the openai clients send the file first). The gate ends the
// stored stream only once the whole form was read and judged, so storage completes an object only
// for an accepted upload: one that is too large, invalid or abandoned by its client errors the
// stream, and the store aborts what it had written (a multipart upload, in S3).
import type { IncomingMessage } from "node:http";
import { type Readable, Transform } from "node:stream";
import { Busboy, type BusboyHeaders } from "@fastify/busboy";
import { ApiError, invalidRequest } from "../../core/errors.ts";
import { clientClosed } from "../handlers/body.ts";
import { JsonlValidator } from "./jsonl-validate.ts";

// Room for the multipart envelope (boundaries, part headers, the purpose field).
const ENVELOPE_BYTES = 64 * 1024;

export type ReceivedUpload = { purpose: string; filename: string | undefined; bytes: number };

export type ReceiveOptions = {
  maxBytes: number;
  purposes: readonly string[];
  /** Stores the file: reads `body` to its end, and rejects (keeping nothing) when `body` errors. */
  store(body: Readable): Promise<void>;
};

const fileTooLarge = (maxBytes: number) =>
  new ApiError(413, `The file is larger than the limit of ${maxBytes} bytes.`, {
    code: "file_too_large",
    param: "file",
  });

/** Resolves once the form was read whole and the file stored; rejects with the client's error otherwise. */
export function receiveUpload(req: IncomingMessage, opts: ReceiveOptions): Promise<ReceivedUpload> {
  const type = req.headers["content-type"] ?? "";
  if (!/^multipart\/form-data\s*;/i.test(type)) {
    throw invalidRequest("Upload the file as multipart/form-data with fields 'file' and 'purpose'.");
  }
  if (Number(req.headers["content-length"] ?? 0) > opts.maxBytes + ENVELOPE_BYTES) {
    throw fileTooLarge(opts.maxBytes);
  }
  let parser: ReturnType<typeof Busboy>;
  try {
    parser = Busboy({
      headers: req.headers as BusboyHeaders,
      limits: { fileSize: opts.maxBytes, files: 1, fields: 20, fieldSize: 64 * 1024, parts: 40 },
    });
  } catch {
    throw invalidRequest("The multipart body could not be parsed (no boundary in its content-type?).");
  }
  return new Promise((resolve, reject) => {
    let purpose: string | undefined;
    let filename: string | undefined;
    let bytes = 0;
    // Fine-tuning files are checked as they pass; dropped once the purpose says another kind.
    let validator: JsonlValidator | undefined = new JsonlValidator();
    let failure: ApiError | undefined;
    let stored: Promise<void> | undefined;
    let formRead: () => void = () => {};
    const formReadP = new Promise<void>((ok) => {
      formRead = ok;
    });

    const verdict = (): ApiError | undefined => {
      if (purpose === undefined) {
        return invalidRequest(`purpose must be one of: ${opts.purposes.join(", ")}`, "purpose");
      }
      const errors = purpose === "fine-tune" && validator ? validator.end().errors : [];
      if (errors.length === 0) return undefined;
      return new ApiError(400, `Invalid file format for fine-tuning: ${errors.join("; ")}`, {
        code: "invalid_file_format",
        param: "file",
      });
    };
    const gate = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (validator && !validator.done) validator.push(chunk);
        done(null, chunk);
      },
      flush(done) {
        void formReadP.then(() => {
          const e = failure ?? verdict();
          failure ??= e;
          done(e);
        });
      },
    });
    // The store learns of an error through its own reading; this keeps one that comes before the
    // file (no reader yet) from being an unhandled 'error' event.
    gate.on("error", () => {});
    // The only way out: after storage has settled (its abort included), so no part outlives us.
    const finish = () => {
      if (!stored) return failure ? reject(failure) : reject(missingFile());
      stored.then(
        () => (failure ? reject(failure) : resolve({ purpose: purpose!, filename, bytes })),
        (err: unknown) => reject(failure ?? err),
      );
    };
    const fail = (e: ApiError) => {
      if (failure) return;
      failure = e;
      gate.destroy(e);
      // Stop parsing; Node drains what the client still sends, so it can read the answer.
      req.unpipe(parser);
      req.resume();
      formRead();
      if (!stored) finish();
    };

    parser.on("field", (name, value) => {
      if (name !== "purpose") return;
      if (!opts.purposes.includes(value)) {
        fail(invalidRequest(`purpose must be one of: ${opts.purposes.join(", ")}`, "purpose"));
        return;
      }
      purpose = value;
      if (purpose !== "fine-tune") validator = undefined;
    });
    parser.on("file", (name, stream, fileName) => {
      if (name !== "file" || stored || failure) {
        stream.resume();
        return;
      }
      filename = fileName;
      stream.on("limit", () => fail(fileTooLarge(opts.maxBytes)));
      stream.on("error", () => fail(invalidRequest("The multipart body could not be parsed.")));
      stream.pipe(gate);
      stored = opts.store(gate);
      stored.then(finish, finish);
    });
    parser.on("finish", () => {
      formRead();
      if (!stored && !failure) finish();
    });
    parser.on("error", () => fail(invalidRequest("The multipart body could not be parsed.")));
    req.on("error", () => fail(clientClosed()));
    req.on("close", () => {
      if (!req.complete) fail(clientClosed());
    });
    req.pipe(parser);
  });
}

const missingFile = () => invalidRequest("the 'file' field must be a file", "file");
