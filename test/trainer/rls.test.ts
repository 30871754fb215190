// The second wall behind the files and fine-tuning queries: under withTenant (the reader role
// with app.tenant set), row-level security hides other tenants' files, jobs, events and
// checkpoints even from a query with no tenant filter at all.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServiceConfig } from "../../core/config.ts";
import { createPgPool } from "../../core/db.ts";
import { migrate } from "../../core/migrate.ts";
import { createJobsStore } from "../../fine-tuning/jobs-store.ts";
import { withTenant } from "../../metering/tenant-db.ts";
import { uniqueName } from "../support/unique.ts";

const schema = uniqueName("trainer_rls").replaceAll("-", "_");
const a = uniqueName("rls-a");
const b = uniqueName("rls-b");
let pool: pg.Pool;

beforeAll(async () => {
  pool = createPgPool(loadServiceConfig(), { schema });
  await migrate(pool, { schema });
  const jobs = createJobsStore(pool);
  for (const t of [a, b]) {
    await pool.query(
      "INSERT INTO files (id, tenant, filename, purpose, bytes) VALUES ($1, $2, 'f', 'fine-tune', 1)",
      [`file-${t.replaceAll("-", "")}`, t],
    );
    const job = await jobs.createJob(t, {
      model: "m",
      training_file: "file-x",
      validation_file: null,
      suffix: null,
      seed: 1,
      hyperparameters: {
        n_epochs: 1,
        batch_size: 1,
        learning_rate_multiplier: 1,
        lora_rank: 8,
        lora_alpha: 16,
      },
    });
    await jobs.addCheckpoint(t, job.id, 10, { train_loss: 1.5 }, `ft:m:${t}::ckpt`);
  }
});
afterAll(async () => {
  await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
  await pool?.end();
});

describe("row-level security on training tables", () => {
  it("shows a tenant only its own rows, whatever the query forgets", async () => {
    for (const table of ["files", "fine_tune_jobs", "fine_tune_events", "fine_tune_checkpoints"]) {
      const tenants = await withTenant(pool, a, async (c) => {
        const { rows } = await c.query<{ tenant: string }>(`SELECT DISTINCT tenant FROM ${table}`);
        return rows.map((r) => r.tenant);
      });
      expect(tenants, table).toEqual([a]);
    }
    const owner = await pool.query<{ n: string }>("SELECT count(DISTINCT tenant) AS n FROM fine_tune_jobs");
    expect(Number(owner.rows[0]!.n)).toBe(2);
  });
});
