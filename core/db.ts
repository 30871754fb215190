import pg from "pg";
import type { ServiceConfig } from "./config.ts";

export function createPgPool(cfg: ServiceConfig, opts: { max?: number; schema?: string } = {}): pg.Pool {
  return new pg.Pool({
    connectionString: cfg.DATABASE_URL,
    max: opts.max ?? 10,
    // A schema per test suite (or per deployment) keeps parallel users apart; public stays on
    // the path after it because extensions (pgvector's type and operators) live there.
    options: opts.schema ? `-c search_path=${opts.schema},public` : undefined,
    connectionTimeoutMillis: 5_000,
  });
}
