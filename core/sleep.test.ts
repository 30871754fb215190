import { describe, expect, it } from "vitest";
import { sleep } from "./sleep.ts";

describe("sleep", () => {
  it("resolves after the wait", async () => {
    let done = false;
    const p = sleep(5).then(() => {
      done = true;
    });
    expect(done).toBe(false);
    await p;
    expect(done).toBe(true);
  });

  it("resolves, without rejecting, when its signal aborts", async () => {
    const ac = new AbortController();
    const p = sleep(3_600_000, ac.signal);
    ac.abort();
    await expect(p).resolves.toBeUndefined();
  });

  it("does not wait at all on an aborted signal or a zero wait", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(sleep(3_600_000, ac.signal)).resolves.toBeUndefined();
    await expect(sleep(0)).resolves.toBeUndefined();
  });
});
