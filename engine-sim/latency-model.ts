// How long simulated work takes. Prefill is charged only for prompt tokens the prefix cache did
// not already hold, as on a real engine; every delay is scaled by --time-scale and jittered.
import { setTimeout as delay } from "node:timers/promises";
import type { EngineSimOptions } from "./options.ts";

export class LatencyModel {
  private readonly o: Pick<
    EngineSimOptions,
    "ttftMs" | "prefillMsPerToken" | "itlMs" | "jitter" | "swapInMs" | "timeScale"
  >;

  constructor(o: EngineSimOptions) {
    this.o = o;
  }

  /** Time from a sequence starting to run until its first token. */
  firstTokenMs(uncachedPromptTokens: number): number {
    return this.scaled(this.o.ttftMs + this.o.prefillMsPerToken * uncachedPromptTokens);
  }

  interTokenMs(): number {
    return this.scaled(this.o.itlMs);
  }

  swapInMs(): number {
    return this.scaled(this.o.swapInMs);
  }

  private scaled(ms: number): number {
    const v = ms * this.o.timeScale;
    if (v <= 0 || this.o.jitter === 0) return Math.max(0, v);
    return v * (1 + (Math.random() * 2 - 1) * this.o.jitter);
  }
}

/** Waits `ms`, ending early (without throwing) when `signal` aborts. No timer at all for 0. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return;
  try {
    await delay(ms, undefined, { signal });
  } catch {
    // aborted: the caller checks the signal
  }
}
