// The continuous-batching scheduler, reduced to what a router can observe:
//   - at most --max-num-seqs sequences run at once; the rest wait, first come first served;
//   - the running batch holds at most --max-loras distinct adapters (vLLM's GPU LoRA slots).
//     A waiting request whose adapter has no slot gets one if a slot is free or held by an
//     adapter nobody is running (LRU among those); otherwise it is skipped, and requests behind
//     it that can run do run, as vLLM's scheduler skips requests blocked by the LoRA limit.
//   - taking a slot costs a swap-in; requests for that adapter start once it is done.
import { performance } from "node:perf_hooks";

export type Sequence = {
  readonly id: number;
  /** The adapter's lora name, or null for the base model. */
  readonly adapter: string | null;
  readonly promptTokens: number;
  generatedTokens: number;
  readonly arrivedAt: number;
  state: "waiting" | "running" | "done";
  /** performance.now() when the sequence's adapter slot is usable (after any swap-in). */
  readyAt: number;
  /** Whether starting this sequence swapped its adapter into a slot. */
  swappedIn: boolean;
  /** Resolves true when the sequence starts running, false if it was cancelled while waiting. */
  readonly started: Promise<boolean>;
};

type Slot = { active: number; readyAt: number; stale: boolean };
type Internal = Sequence & { resolve(started: boolean): void };

export class BatchScheduler {
  private readonly waiting: Internal[] = [];
  private readonly running = new Set<Internal>();
  /** GPU LoRA slots by adapter name, least recently used first. */
  private readonly slots = new Map<string, Slot>();
  private readonly maxNumSeqs: number;
  private readonly maxLoras: number;
  private readonly swapInMs: () => number;
  private nextId = 1;
  swapIns = 0;

  constructor(opts: { maxNumSeqs: number; maxLoras: number; swapInMs: () => number }) {
    this.maxNumSeqs = opts.maxNumSeqs;
    this.maxLoras = opts.maxLoras;
    this.swapInMs = opts.swapInMs;
  }

  submit(adapter: string | null, promptTokens: number): Sequence {
    let resolve!: (started: boolean) => void;
    const started = new Promise<boolean>((r) => {
      resolve = r;
    });
    const seq: Internal = {
      id: this.nextId++,
      adapter,
      promptTokens,
      generatedTokens: 0,
      arrivedAt: performance.now(),
      state: "waiting",
      readyAt: 0,
      swappedIn: false,
      started,
      resolve,
    };
    this.waiting.push(seq);
    this.schedule();
    return seq;
  }

  /** Ends a sequence: a running one frees its place, a waiting one is cancelled. */
  finish(seq: Sequence): void {
    const s = seq as Internal;
    if (s.state === "waiting") {
      const i = this.waiting.indexOf(s);
      if (i >= 0) this.waiting.splice(i, 1);
      s.state = "done";
      s.resolve(false);
      return;
    }
    if (s.state !== "running") return;
    s.state = "done";
    this.running.delete(s);
    if (s.adapter !== null) {
      const slot = this.slots.get(s.adapter);
      if (slot) {
        slot.active--;
        if (slot.stale && slot.active === 0) this.slots.delete(s.adapter);
      }
    }
    this.schedule();
  }

  /** The adapter was unloaded or replaced: its slot must be swapped in again before reuse. */
  invalidate(name: string): void {
    const slot = this.slots.get(name);
    if (!slot) return;
    if (slot.active === 0) this.slots.delete(name);
    else slot.stale = true;
    this.schedule();
  }

  inUse(name: string): boolean {
    return (this.slots.get(name)?.active ?? 0) > 0;
  }

  get numRunning(): number {
    return this.running.size;
  }

  get numWaiting(): number {
    return this.waiting.length;
  }

  /** Adapters with running sequences (vLLM's running_lora_adapters). */
  runningAdapters(): string[] {
    return [...this.slots].filter(([, s]) => s.active > 0).map(([name]) => name);
  }

  /** Adapters with waiting sequences (vLLM's waiting_lora_adapters). */
  waitingAdapters(): string[] {
    const names = new Set<string>();
    for (const s of this.waiting) if (s.adapter !== null) names.add(s.adapter);
    return [...names];
  }

  /** Adapters holding a GPU slot, running or idle. */
  residentAdapters(): string[] {
    return [...this.slots].filter(([, s]) => !s.stale).map(([name]) => name);
  }

  /** Tokens the running sequences hold in the KV cache. */
  kvTokens(): number {
    let n = 0;
    for (const s of this.running) n += s.promptTokens + s.generatedTokens;
    return n;
  }

  private schedule(): void {
    let i = 0;
    while (i < this.waiting.length && this.running.size < this.maxNumSeqs) {
      const seq = this.waiting[i]!;
      if (!this.place(seq)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      seq.state = "running";
      this.running.add(seq);
      seq.resolve(true);
    }
  }

  private place(seq: Internal): boolean {
    const name = seq.adapter;
    if (name === null) return true;
    const slot = this.slots.get(name);
    if (slot && !slot.stale) {
      slot.active++;
      this.slots.delete(name); // re-insert: most recently used
      this.slots.set(name, slot);
      seq.readyAt = slot.readyAt;
      return true;
    }
    if (slot) return false; // stale: wait until its running sequences finish
    if (this.slots.size >= this.maxLoras) {
      let victim: string | undefined;
      for (const [n, s] of this.slots) {
        if (s.active === 0) {
          victim = n;
          break;
        }
      }
      if (victim === undefined) return false;
      this.slots.delete(victim);
    }
    const readyAt = performance.now() + this.swapInMs();
    this.slots.set(name, { active: 1, readyAt, stale: false });
    this.swapIns++;
    seq.swappedIn = true;
    seq.readyAt = readyAt;
    return true;
  }
}
