// Tenant-facing reads run here: in a read-only transaction, as the non-owner role
// loraplex_tenant_reader, with app.tenant set for that transaction only. The row-level security
// policies (migration 103) then hide every other tenant's rows, even from a query that forgot
// its WHERE clause; the explicit tenant filter in each query stays as the first wall.
import type pg from "pg";

const TENANT_READER_ROLE = "loraplex_tenant_reader";

export async function withTenant<T>(
  pool: pg.Pool,
  tenant: string,
  run: (client: pg.PoolClient) => Promise<T>,
  opts: { statementTimeoutMs?: number } = {},
): Promise<T> {
  const client = await pool.connect();
  const onError = () => {};
  client.on("error", onError);
  let broken = false;
  try {
    await client.query("BEGIN READ ONLY");
    await client.query(`SET LOCAL ROLE ${TENANT_READER_ROLE}`);
    await client.query(
      "SELECT set_config('app.tenant', $1, true), set_config('statement_timeout', $2, true)",
      [tenant, String(opts.statementTimeoutMs ?? 15_000)],
    );
    const out = await run(client);
    await client.query("COMMIT");
    return out;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {
      broken = true;
    });
    throw e;
  } finally {
    client.off("error", onError);
    client.release(broken);
  }
}
