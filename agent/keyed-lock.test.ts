import { describe, expect, it } from "vitest";
import { KeyedLock } from "./keyed-lock.ts";
import { SingleFlight } from "./single-flight.ts";

const tick = () => new Promise((r) => setImmediate(r));

describe("KeyedLock", () => {
  it("runs holders of one key one at a time, in arrival order, and other keys alongside", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const job = (key: string, label: string) =>
      lock.run(key, async () => {
        log.push(`${label}+`);
        await tick();
        log.push(`${label}-`);
      });
    await Promise.all([job("a", "a1"), job("a", "a2"), job("b", "b1")]);
    expect(log.indexOf("a1-")).toBeLessThan(log.indexOf("a2+"));
    expect(log.indexOf("b1+")).toBeLessThan(log.indexOf("a1-"));
    expect(lock.isBusy("a")).toBe(false);
  });

  it("tryRun skips a busy key instead of waiting, and a failed holder releases the key", async () => {
    const lock = new KeyedLock();
    let release!: () => void;
    const held = lock.run("k", () => new Promise<void>((r) => (release = r)));
    expect(await lock.tryRun("k", async () => 1)).toEqual({ ran: false });
    release();
    await held;
    await expect(lock.run("k", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await lock.tryRun("k", async () => 2)).toEqual({ ran: true, value: 2 });
  });
});

describe("SingleFlight", () => {
  it("gives concurrent callers of one key the first call's result, and forgets it afterwards", async () => {
    const flights = new SingleFlight<number>();
    let calls = 0;
    const fn = async () => {
      calls++;
      await tick();
      return calls;
    };
    const a = flights.do("k", fn);
    const b = flights.do("k", fn);
    expect([a.shared, b.shared]).toEqual([false, true]);
    expect(await Promise.all([a.promise, b.promise])).toEqual([1, 1]);
    expect(flights.size).toBe(0);
    expect(await flights.do("k", fn).promise).toBe(2);
  });

  it("shares a failure the same way", async () => {
    const flights = new SingleFlight<number>();
    const fn = async () => {
      await tick();
      throw new Error("nope");
    };
    const [a, b] = [flights.do("k", fn), flights.do("k", fn)];
    await expect(a.promise).rejects.toThrow("nope");
    await expect(b.promise).rejects.toThrow("nope");
  });
});
