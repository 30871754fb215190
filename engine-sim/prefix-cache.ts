// Automatic prefix caching as vLLM does it: the prompt is cut into full blocks of 16 tokens,
// each block's hash chains the previous block's hash, and the first block's hash also mixes in
// the request's cache_salt and the adapter, so requests with different salts (tenants) or
// adapters can never hit each other's blocks. Blocks live in a bounded LRU.
import { createHash } from "node:crypto";

const BLOCK_TOKENS = 16;

export type PrefixLookup = { queriedTokens: number; hitTokens: number };

export class PrefixCache {
  private readonly blocks = new Map<string, true>();
  private readonly capacityBlocks: number;

  constructor(capacityTokens: number) {
    this.capacityBlocks = Math.max(1, Math.floor(capacityTokens / BLOCK_TOKENS));
  }

  /** Counts the cached prefix of `tokens`, then caches all of its full blocks. */
  lookupAndInsert(tokens: string[], salt: string | undefined, adapter: string): PrefixLookup {
    const full = Math.floor(tokens.length / BLOCK_TOKENS);
    let parent = createHash("sha256")
      .update(`salt:${salt ?? ""}\u0000lora:${adapter}`)
      .digest("hex");
    let hitBlocks = 0;
    let stillHitting = true;
    for (let b = 0; b < full; b++) {
      const h = createHash("sha256").update(parent);
      for (let t = b * BLOCK_TOKENS; t < (b + 1) * BLOCK_TOKENS; t++) h.update(`\u0000${tokens[t]}`);
      const key = h.digest("hex");
      if (this.blocks.has(key)) {
        this.blocks.delete(key); // re-insert below: most recently used
        if (stillHitting) hitBlocks++;
      } else {
        stillHitting = false;
      }
      this.blocks.set(key, true);
      parent = key;
    }
    while (this.blocks.size > this.capacityBlocks) {
      this.blocks.delete(this.blocks.keys().next().value!);
    }
    // A fully cached prompt still recomputes its last token to produce logits.
    const hitTokens = Math.min(hitBlocks * BLOCK_TOKENS, Math.max(0, tokens.length - 1));
    return { queriedTokens: tokens.length, hitTokens };
  }
}
