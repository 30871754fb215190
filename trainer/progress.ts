// The line protocol a training container prints on stdout, one JSON object per line after a
// fixed marker, so progress survives any logging the training libraries add around it:
//
//   LORAPLEX_PROGRESS {"step":12,"loss":1.87,"epoch":0.5}
//   LORAPLEX_PROGRESS {"step":24,"loss":1.52,"epoch":1,"checkpoint":true}
//
// `step` (integer ≥ 0) and `loss` (finite number) are required; `epoch` is optional; with
// `"checkpoint": true` the step also saved a checkpoint. Other lines are ignored, so the
// trainer can read a whole pod log. Malformed marker lines are reported, never thrown.

const PROGRESS_MARKER = "LORAPLEX_PROGRESS ";

export type Progress = { step: number; loss: number; epoch?: number; checkpoint: boolean };
export type ParsedLine = { kind: "progress"; progress: Progress } | { kind: "invalid"; reason: string };

/** The line a training container prints for one step (what parseProgressLine reads back). */
export function formatProgressLine(p: Progress): string {
  const body: Record<string, unknown> = { step: p.step, loss: p.loss };
  if (p.epoch !== undefined) body.epoch = p.epoch;
  if (p.checkpoint) body.checkpoint = true;
  return `${PROGRESS_MARKER}${JSON.stringify(body)}`;
}

/** One log line → progress, a reason it is malformed, or undefined for any other line. */
export function parseProgressLine(line: string): ParsedLine | undefined {
  const at = line.indexOf(PROGRESS_MARKER);
  if (at === -1) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line.slice(at + PROGRESS_MARKER.length));
  } catch {
    return { kind: "invalid", reason: "progress line is not valid JSON" };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    return { kind: "invalid", reason: "progress line must hold a JSON object" };
  const o = v as Record<string, unknown>;
  if (!Number.isInteger(o.step) || (o.step as number) < 0)
    return { kind: "invalid", reason: "progress 'step' must be an integer ≥ 0" };
  if (typeof o.loss !== "number" || !Number.isFinite(o.loss))
    return { kind: "invalid", reason: "progress 'loss' must be a finite number" };
  if (o.epoch !== undefined && (typeof o.epoch !== "number" || !Number.isFinite(o.epoch) || o.epoch < 0))
    return { kind: "invalid", reason: "progress 'epoch' must be a number ≥ 0" };
  const progress: Progress = { step: o.step as number, loss: o.loss, checkpoint: o.checkpoint === true };
  if (o.epoch !== undefined) progress.epoch = o.epoch as number;
  return { kind: "progress", progress };
}

export type ProgressSink = {
  event(message: string, data: object): Promise<void>;
  checkpoint(step: number, metrics: object): Promise<void>;
};

/**
 * Feeds log text to the sink, once per step: a log read again (the next poll, or a new worker
 * after a crash, which starts from the last recorded step) does not repeat events.
 * Returns the highest step recorded.
 */
export async function recordProgress(text: string, lastStep: number, sink: ProgressSink): Promise<number> {
  let last = lastStep;
  for (const line of text.split("\n")) {
    const parsed = parseProgressLine(line);
    if (parsed?.kind !== "progress" || parsed.progress.step <= last) continue;
    const p = parsed.progress;
    const metrics = {
      step: p.step,
      train_loss: p.loss,
      ...(p.epoch !== undefined ? { epoch: p.epoch } : {}),
    };
    await sink.event(`Step ${p.step}: training loss=${p.loss.toFixed(4)}`, metrics);
    if (p.checkpoint) await sink.checkpoint(p.step, metrics);
    last = p.step;
  }
  return last;
}
