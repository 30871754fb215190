// The LoRA target projections of well-known base models, so the training simulator writes
// adapters whose tensors have the shapes a real fine-tune of that model would have
// (lora_A: [r, in], lora_B: [out, r]). With grouped-query attention, k_proj and v_proj project
// to kv_heads × head_dim, narrower than q_proj. Unknown models get the generator's small default.

export type Geometry = {
  layers: number;
  hidden: number;
  /** Output width of k_proj / v_proj (key-value heads × head dim). */
  kvWidth: number;
};

// Keyed by a lowercase fragment of the served model name; the first match wins, so the longer
// and more specific fragments come first.
const KNOWN: [string, Geometry][] = [
  ["llama-3.2-1b", { layers: 16, hidden: 2048, kvWidth: 512 }],
  ["llama-3.2-3b", { layers: 28, hidden: 3072, kvWidth: 1024 }],
  ["llama-3.1-8b", { layers: 32, hidden: 4096, kvWidth: 1024 }],
  ["llama-3-8b", { layers: 32, hidden: 4096, kvWidth: 1024 }],
  ["mistral-7b", { layers: 32, hidden: 4096, kvWidth: 1024 }],
  ["qwen2.5-7b", { layers: 28, hidden: 3584, kvWidth: 512 }],
];

export function baseModelGeometry(model: string): Geometry | undefined {
  const name = model.toLowerCase();
  return KNOWN.find(([fragment]) => name.includes(fragment))?.[1];
}

/** Input and output width of each attention projection a LoRA may target. */
export function projectionDims(g: Geometry): Record<string, { in: number; out: number }> {
  return {
    q_proj: { in: g.hidden, out: g.hidden },
    k_proj: { in: g.hidden, out: g.kvWidth },
    v_proj: { in: g.hidden, out: g.kvWidth },
    o_proj: { in: g.hidden, out: g.hidden },
  };
}
