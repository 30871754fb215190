// Fault injection: failed requests, responses cut off midway, a slow start, a crash. Knobs come
// from flags and can be replaced at runtime through POST /sim/faults (snake_case JSON, like the
// rest of the API); GET /sim/faults shows the current ones.
import { EngineError } from "./errors.ts";
import { checkFaults, type FaultSettings } from "./options.ts";

export type FaultsJson = {
  fail_rate: number;
  fail_status: number;
  disconnect_rate: number;
  slow_start_ms: number;
};

export class Faults {
  private settings: FaultSettings;
  private healthyAt: number;

  constructor(initial: FaultSettings) {
    this.settings = { ...initial };
    this.healthyAt = Date.now() + initial.slowStartMs;
  }

  get healthy(): boolean {
    return Date.now() >= this.healthyAt;
  }

  /** Throws the configured failure for this request, or returns when it should proceed. */
  maybeFail(): void {
    const { failRate, failStatus } = this.settings;
    if (failRate > 0 && Math.random() < failRate) {
      throw new EngineError(
        failStatus,
        `Simulated failure (engine simulator fault injection, status ${failStatus})`,
      );
    }
  }

  /** Whether this response should be cut off midway. */
  shouldDisconnect(): boolean {
    const rate = this.settings.disconnectRate;
    return rate > 0 && Math.random() < rate;
  }

  toJSON(): FaultsJson {
    const s = this.settings;
    return {
      fail_rate: s.failRate,
      fail_status: s.failStatus,
      disconnect_rate: s.disconnectRate,
      slow_start_ms: s.slowStartMs,
    };
  }

  /** Replaces every knob (missing ones fall back to "no fault"); a slow start restarts now. */
  replace(body: unknown): FaultsJson {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new EngineError(400, "Fault settings must be a JSON object");
    }
    const b = body as Record<string, unknown>;
    const known = new Set(["fail_rate", "fail_status", "disconnect_rate", "slow_start_ms"]);
    const unknown = Object.keys(b).filter((k) => !known.has(k));
    if (unknown.length) {
      throw new EngineError(
        400,
        `Unknown fault setting(s): ${unknown.join(", ")}; known: ${[...known].join(", ")}`,
      );
    }
    const num = (key: string, fallback: number): number => {
      const v = b[key];
      if (v === undefined || v === null) return fallback;
      if (typeof v !== "number") throw new EngineError(400, `${key} must be a number`, undefined, key);
      return v;
    };
    const next: FaultSettings = {
      failRate: num("fail_rate", 0),
      failStatus: num("fail_status", 500),
      disconnectRate: num("disconnect_rate", 0),
      slowStartMs: num("slow_start_ms", 0),
    };
    const problem = checkFaults(next);
    if (problem) throw new EngineError(400, problem);
    this.settings = next;
    this.healthyAt = Date.now() + next.slowStartMs;
    return this.toJSON();
  }
}
