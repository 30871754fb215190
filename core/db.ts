import pg from "pg";
import type { ServiceConfig } from "./config.ts";

export function createPgPool(cfg: ServiceConfig, opts: { max?: number; schema?: string } = {}): pg.Pool {
  return new pg.Pool({
    connectionString: cfg.DATABASE_URL,
    max: opts.max ?? 10,
    // A schema per test suite (or per deployment) keeps parallel users apart.
    options: opts.schema ? `-c search_path=${opts.schema}` : undefined,
    connectionTimeoutMillis: 5_000,
  });
}
