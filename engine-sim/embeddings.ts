// POST /v1/embeddings: deterministic unit vectors from (adapter identity, input), so equal
// inputs embed equally, similar texts embed close together (text-vectors.ts) and different
// adapters embed differently. `dimensions` below --embedding-dim truncates and re-normalises,
// like a Matryoshka model.
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Engine } from "./engine.ts";
import { invalidParam } from "./errors.ts";
import { textVector } from "./text-vectors.ts";
import { parseEmbeddingRequest } from "./validation.ts";

export async function handleEmbeddings(engine: Engine, body: unknown, res: ServerResponse): Promise<void> {
  const r = parseEmbeddingRequest(body);
  const { served, adapter } = engine.resolveModel(r.model);
  const dims = r.dimensions ?? engine.opts.embeddingDim;
  if (dims > engine.opts.embeddingDim) {
    throw invalidParam(
      "dimensions",
      `dimensions must be at most ${engine.opts.embeddingDim}, got ${dims}.`,
      dims,
    );
  }
  for (const input of r.inputs) engine.checkContext(input.tokens.length, undefined);
  engine.faults.maybeFail();

  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  // The batch is one engine request: it queues and prefills its inputs together.
  const all = r.inputs.flatMap((p) => p.tokens);
  const started = await engine.begin(adapter, { text: "", tokens: all }, undefined, abort.signal);
  if (!started) return;
  engine.finish(started, "stop");
  if (engine.faults.shouldDisconnect()) {
    res.destroy();
    return;
  }
  const data = r.inputs.map((input, index) => {
    const v = textVector(started.identity, input.text, engine.opts.embeddingDim, dims);
    const embedding =
      r.encodingFormat === "base64" ? Buffer.from(v.buffer).toString("base64") : Array.from(v);
    return { index, object: "embedding", embedding };
  });
  const prompt = all.length;
  const payload = JSON.stringify({
    id: `embd-${randomUUID().replaceAll("-", "")}`,
    object: "list",
    created: Math.floor(Date.now() / 1000),
    model: served,
    data,
    usage: { prompt_tokens: prompt, total_tokens: prompt, completion_tokens: 0, prompt_tokens_details: null },
  });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}
