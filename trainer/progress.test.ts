import { describe, expect, it } from "vitest";
import { parseProgressLine, recordProgress } from "./progress.ts";

describe("progress line protocol", () => {
  it("parses marker lines anywhere in a log line and ignores other lines", () => {
    expect(parseProgressLine('2026-01-01 LORAPLEX_PROGRESS {"step":3,"loss":1.5,"epoch":0.25}')).toEqual({
      kind: "progress",
      progress: { step: 3, loss: 1.5, epoch: 0.25, checkpoint: false },
    });
    expect(parseProgressLine("loading weights...")).toBeUndefined();
  });

  it("reports malformed marker lines instead of throwing", () => {
    for (const [line, reason] of [
      ["LORAPLEX_PROGRESS {oops", /not valid JSON/],
      ["LORAPLEX_PROGRESS [1]", /JSON object/],
      ['LORAPLEX_PROGRESS {"step":-1,"loss":1}', /step/],
      ['LORAPLEX_PROGRESS {"step":1.5,"loss":1}', /step/],
      ['LORAPLEX_PROGRESS {"step":1,"loss":"x"}', /loss/],
      ['LORAPLEX_PROGRESS {"step":1,"loss":1,"epoch":-2}', /epoch/],
    ] as const) {
      const r = parseProgressLine(line);
      expect(r?.kind).toBe("invalid");
      expect(r?.kind === "invalid" && r.reason).toMatch(reason);
    }
  });

  it("records each step once as an event, and checkpoints where marked", async () => {
    const events: object[] = [];
    const checkpoints: number[] = [];
    const sink = {
      event: async (_m: string, d: object) => void events.push(d),
      checkpoint: async (s: number) => void checkpoints.push(s),
    };
    const log = [
      'LORAPLEX_PROGRESS {"step":1,"loss":2,"epoch":0.5}',
      "noise",
      'LORAPLEX_PROGRESS {"step":2,"loss":1.5,"epoch":1,"checkpoint":true}',
    ].join("\n");
    expect(await recordProgress(log, 0, sink)).toBe(2);
    // The same log read again (next poll or a recovered worker) adds nothing.
    expect(await recordProgress(`${log}\n`, 2, sink)).toBe(2);
    expect(events).toEqual([
      { step: 1, train_loss: 2, epoch: 0.5 },
      { step: 2, train_loss: 1.5, epoch: 1 },
    ]);
    expect(checkpoints).toEqual([2]);
  });
});
