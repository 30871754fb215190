// How long simulated work takes. Prefill is charged only for prompt tokens the prefix cache did
// not already hold, as on a real engine; every delay is scaled by --time-scale and jittered.
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
