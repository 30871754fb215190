// The price table: USD per 1,000 input and output tokens, per base model and optionally per
// adapter. Nothing is ever served free by accident: a model without a price is refused with an
// error that names it, so a forgotten entry shows up at once instead of as lost revenue.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ApiError } from "../core/errors.ts";

const Price = z
  .object({
    input: z.number().min(0).describe("USD per 1,000 prompt tokens"),
    output: z.number().min(0).describe("USD per 1,000 completion tokens"),
  })
  .strict();

const PriceFile = z
  .object({
    currency: z.literal("usd").default("usd"),
    models: z.record(z.string().min(1), Price).default({}),
    // Keys: "<tenant>/<adapter>@<version>", "<tenant>/<adapter>" or "*/<adapter>".
    adapters: z
      .record(z.string().regex(/^[^/]+\/[^/@]+(@\d+)?$/, "<tenant>/<adapter>[@<version>]"), Price)
      .default({}),
    // Fine-tunes (trainer/metering.ts); absent: fine-tunes are recorded at cost 0.
    fineTuning: z
      .object({
        per1kTrainedTokens: z.number().min(0).default(0).describe("USD per 1,000 trained tokens"),
        perGpuHour: z.number().min(0).default(0).describe("USD per GPU-hour of training"),
      })
      .strict()
      .optional(),
    // Vector stores (retrieval/usage.ts); absent: searches and storage are free, while the
    // embedding model's tokens are billed at its price in `models` like any embeddings request.
    retrieval: z
      .object({
        per1kSearches: z.number().min(0).default(0).describe("USD per 1,000 vector store searches"),
        perGbDay: z.number().min(0).default(0).describe("USD per GB of vector store storage per day"),
      })
      .strict()
      .optional(),
  })
  .strict();

export type Price = z.infer<typeof Price>;
export type PriceTable = z.infer<typeof PriceFile>;

/** Costs in micro-USD (1e-6 USD): integers, so Redis counters and Lua arithmetic stay exact. */
export type Cost = { inputMicro: number; outputMicro: number; totalMicro: number };

export function parsePriceTable(doc: unknown): PriceTable {
  const r = PriceFile.safeParse(doc ?? {});
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`invalid price table: ${why}`);
  }
  return r.data;
}

/**
 * Reads the table from LORAPLEX_PRICES_FILE (YAML or JSON) or LORAPLEX_PRICES (inline YAML or
 * JSON). Neither set gives an empty table, which refuses every model.
 */
export function loadPriceTable(env: NodeJS.ProcessEnv = process.env): PriceTable {
  const file = env.LORAPLEX_PRICES_FILE;
  const inline = env.LORAPLEX_PRICES;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new Error(`cannot read LORAPLEX_PRICES_FILE '${file}': ${(e as Error).message}`);
    }
    return parsePriceTable(parseYaml(text));
  }
  if (inline) return parsePriceTable(parseYaml(inline));
  return parsePriceTable({});
}

export type PricedModel = { tenant: string; baseModel: string; adapter?: { name: string; version: number } };

/** The most specific price: adapter@version, then adapter, then any tenant's adapter, then base model. */
export function findPrice(table: PriceTable, m: PricedModel): Price | undefined {
  if (m.adapter) {
    const a = m.adapter;
    const hit =
      table.adapters[`${m.tenant}/${a.name}@${a.version}`] ??
      table.adapters[`${m.tenant}/${a.name}`] ??
      table.adapters[`*/${a.name}@${a.version}`] ??
      table.adapters[`*/${a.name}`];
    if (hit) return hit;
  }
  return table.models[m.baseModel];
}

export function notPriced(m: PricedModel): ApiError {
  const what = m.adapter
    ? `adapter '${m.adapter.name}' version ${m.adapter.version} (base model '${m.baseModel}')`
    : `model '${m.baseModel}'`;
  return new ApiError(
    403,
    `The ${what} has no price configured, so it cannot be served: every request is billed. ` +
      "Ask your operator to add it to the Loraplex price table.",
    { code: "model_not_priced", param: "model", type: "permission_error" },
  );
}

/** Rounds each part up to a whole micro-USD: a sub-micro request still costs something, never nothing. */
export function costOf(price: Price, promptTokens: number, completionTokens: number): Cost {
  const inputMicro = promptTokens > 0 ? Math.ceil(promptTokens * price.input * 1000 - 1e-9) : 0;
  const outputMicro = completionTokens > 0 ? Math.ceil(completionTokens * price.output * 1000 - 1e-9) : 0;
  return { inputMicro, outputMicro, totalMicro: inputMicro + outputMicro };
}

export const microToUsd = (micro: number): number => micro / 1_000_000;
export const usdToMicro = (usd: number): number => Math.round(usd * 1_000_000);
