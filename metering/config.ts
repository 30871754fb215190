// Metering settings. LORAPLEX_METERING_CONFIG names a YAML/JSON file:
//   prices:     {models: {<base model>: {input, output}}, adapters: {"<tenant>/<adapter>[@v]": {...}}}
//   engineCost: {perGpuHourUSD, avgConcurrency}   # the admin cost-to-serve estimate
//   plans:      {<tenant>: {monthlyUSD}}           # plan prices for the admin margin report
//   keyPrefix, leaseMs, redisTimeoutMs, writerBatchSize, writerConcurrency, writerLingerMs,
//   auditRetentionIntervalMs
// LORAPLEX_PRICES_FILE / LORAPLEX_PRICES give the price table alone (they win over `prices`).
// The alert webhook signing secret comes from LORAPLEX_ALERT_WEBHOOK_SECRET, never from a file.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { loadPriceTable, type PriceTable, parsePriceTable } from "./prices.ts";

const ConfigFile = z
  .object({
    prices: z.unknown().optional(),
    engineCost: z
      .object({ perGpuHourUSD: z.number().min(0), avgConcurrency: z.number().min(1).default(1) })
      .strict()
      .optional(),
    plans: z.record(z.string(), z.object({ monthlyUSD: z.number().min(0) }).strict()).default({}),
    keyPrefix: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[^{}*?[\]\\]+$/, "no braces or glob characters")
      .optional(),
    leaseMs: z.number().int().min(1_000).optional(),
    redisTimeoutMs: z.number().int().min(10).max(60_000).optional(),
    writerBatchSize: z.number().int().min(1).max(50_000).optional(),
    writerConcurrency: z.number().int().min(1).max(16).optional(),
    writerLingerMs: z.number().int().min(0).max(10_000).optional(),
    auditRetentionIntervalMs: z.number().int().min(1_000).optional(),
  })
  .strict();

export type MeteringConfig = Omit<z.infer<typeof ConfigFile>, "prices"> & {
  prices: PriceTable;
  webhookSecret?: string;
};

/** Whether this environment asks for metering at all (otherwise the router runs without it). */
export function meteringConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.LORAPLEX_METERING_CONFIG || env.LORAPLEX_PRICES_FILE || env.LORAPLEX_PRICES);
}

export function loadMeteringConfig(env: NodeJS.ProcessEnv = process.env): MeteringConfig {
  let doc: unknown = {};
  const file = env.LORAPLEX_METERING_CONFIG;
  if (file) {
    try {
      doc = parseYaml(readFileSync(file, "utf8")) ?? {};
    } catch (e) {
      throw new Error(`cannot read LORAPLEX_METERING_CONFIG '${file}': ${(e as Error).message}`);
    }
  }
  const r = ConfigFile.safeParse(doc);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`invalid metering config: ${why}`);
  }
  const { prices, ...rest } = r.data;
  const table =
    env.LORAPLEX_PRICES_FILE || env.LORAPLEX_PRICES ? loadPriceTable(env) : parsePriceTable(prices);
  return { ...rest, prices: table, webhookSecret: env.LORAPLEX_ALERT_WEBHOOK_SECRET || undefined };
}
