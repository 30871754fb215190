// The simulator's pure parts: tokenizer, deterministic generation, prefix cache, scheduler.
import { describe, expect, it } from "vitest";
import { BatchScheduler } from "./batch-scheduler.ts";
import { generate } from "./generation.ts";
import { PrefixCache } from "./prefix-cache.ts";
import { countTokens, tokenize } from "./tokenizer.ts";

describe("tokenizer", () => {
  it("splits words into pieces of at most 4 characters, punctuation apart, whitespace leading", () => {
    expect(tokenize("Hello, world")).toEqual(["Hell", "o", ",", " worl", "d"]);
    expect(tokenize("a  b ")).toEqual(["a", "  b", " "]);
    expect(tokenize("")).toEqual([]);
    const text = "Déjà vu: 12345 — naïve café!";
    expect(tokenize(text).join("")).toBe(text);
    expect(countTokens(text)).toBe(tokenize(text).length);
  });
});

describe("generate", () => {
  const base = { identity: "base", prompt: "p", seedKey: "none", maxTokens: 64, stop: [], ignoreEos: false };

  it("is deterministic, and each piece is one token", () => {
    const a = generate(base);
    expect(generate(base)).toEqual(a);
    expect(generate({ ...base, identity: "other" }).text).not.toBe(a.text);
    expect(tokenize(a.text)).toHaveLength(a.completionTokens);
    expect(a.pieces.join("")).toBe(a.text);
    expect(a.finishReason).toBe("stop");
  });

  it("stops at a stop string spanning tokens and counts the tokens generated", () => {
    const full = generate({ ...base, maxTokens: 30, ignoreEos: true });
    const at = full.text.length - 7;
    const stop = full.text.slice(at, at + 4);
    const cut = generate({ ...base, maxTokens: 30, ignoreEos: true, stop: [stop] });
    const first = full.text.indexOf(stop);
    expect(cut.text).toBe(full.text.slice(0, first));
    expect(cut.pieces.join("")).toBe(cut.text);
    expect(cut.stopReason).toBe(stop);
    expect(cut.finishReason).toBe("stop");
    expect(cut.completionTokens).toBeLessThanOrEqual(30);
    expect(cut.completionTokens).toBe(cut.pieces.length);
  });

  it("ends with finish_reason length at max_tokens", () => {
    const g = generate({ ...base, maxTokens: 2 });
    expect(g).toMatchObject({ completionTokens: 2, finishReason: "length" });
  });
});

describe("PrefixCache", () => {
  const tokens = Array.from({ length: 40 }, (_, i) => `t${i}`);

  it("hits only full blocks of the same salt and adapter, and evicts LRU", () => {
    const c = new PrefixCache(1024);
    expect(c.lookupAndInsert(tokens, "s", "base").hitTokens).toBe(0);
    expect(c.lookupAndInsert(tokens, "s", "base")).toEqual({ queriedTokens: 40, hitTokens: 32 });
    expect(c.lookupAndInsert(tokens, "other", "base").hitTokens).toBe(0);
    expect(c.lookupAndInsert(tokens, "s", "lora").hitTokens).toBe(0);
    // A different first block breaks the chain for every block after it.
    expect(c.lookupAndInsert(["x", ...tokens.slice(1)], "s", "base").hitTokens).toBe(0);

    const tiny = new PrefixCache(32); // two blocks
    tiny.lookupAndInsert(tokens, "s", "base");
    tiny.lookupAndInsert(
      tokens.map((t) => `${t}!`),
      "s",
      "base",
    );
    expect(tiny.lookupAndInsert(tokens, "s", "base").hitTokens).toBe(0);
  });
});

describe("BatchScheduler", () => {
  it("keeps at most max-loras distinct adapters running and skips blocked requests FCFS", async () => {
    const s = new BatchScheduler({ maxNumSeqs: 10, maxLoras: 1, swapInMs: () => 0 });
    const a1 = s.submit("a", 1);
    const b1 = s.submit("b", 1);
    const base = s.submit(null, 1);
    const a2 = s.submit("a", 1);
    expect([a1.state, b1.state, base.state, a2.state]).toEqual(["running", "waiting", "running", "running"]);
    expect(s.runningAdapters()).toEqual(["a"]);
    expect(s.waitingAdapters()).toEqual(["b"]);
    expect(s.swapIns).toBe(1);
    s.finish(a1);
    expect(b1.state).toBe("waiting");
    s.finish(a2);
    expect(b1.state).toBe("running");
    expect(await b1.started).toBe(true);
    expect(s.swapIns).toBe(2);
  });

  it("queues beyond max-num-seqs and drops a cancelled waiting sequence", async () => {
    const s = new BatchScheduler({ maxNumSeqs: 1, maxLoras: 4, swapInMs: () => 0 });
    const first = s.submit(null, 5);
    const second = s.submit(null, 5);
    const third = s.submit(null, 5);
    expect([s.numRunning, s.numWaiting]).toEqual([1, 2]);
    s.finish(second);
    expect(await second.started).toBe(false);
    s.finish(first);
    expect(third.state).toBe("running");
    expect(s.kvTokens()).toBe(5);
  });
});
