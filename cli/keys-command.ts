// `loraplex keys create|list|revoke`: tenant API keys, straight against Postgres (DATABASE_URL,
// DATABASE_SCHEMA; migrations run first). The secret comes from LORAPLEX_KEY_SECRET and must be
// the routers' own, or their lookups will not match (LORAPLEX_DEV_SECRETS=1 in local mode).
// `create` checks that the tenant is defined in --tenants-dir (default manifests/samples, the
// local-mode source); with tenants in a cluster, pass --no-check (or use the admin API, which
// checks against the router's live view). A revocation is announced on Redis (REDIS_URL) so
// running routers drop the key at once; without Redis they drop it within the key-cache TTL.
import { parseArgs } from "node:util";
import { createKeyStore, type KeyInfo } from "../api-keys/api-keys.ts";
import { DEFAULT_POSITIVE_TTL_MS } from "../api-keys/key-cache.ts";
import { loadKeySecret } from "../api-keys/secrets.ts";
import { loadServiceConfig } from "../core/config.ts";
import { createPgPool } from "../core/db.ts";
import { isUsageError, UsageError } from "../core/flags.ts";
import { migrate } from "../core/migrate.ts";
import { createRedis } from "../core/redis.ts";
import { createKeySpace } from "../core/redis-keys.ts";
import { loadTenantDir } from "../tenants/dir-source.ts";

const USAGE = `usage:
  loraplex keys create --tenant <name> [--name <label>] [--tenants-dir <dir> | --no-check] [--json]
      prints the new key once, on stdout (details on stderr, or everything as JSON with --json)
  loraplex keys list [--tenant <name>] [--json]
  loraplex keys revoke <id> [--json]

environment: DATABASE_URL, DATABASE_SCHEMA, REDIS_URL, LORAPLEX_KEY_SECRET (or LORAPLEX_DEV_SECRETS=1)`;

export const keysCommand = {
  summary: "create, list and revoke tenant API keys",
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    try {
      if (sub === "create") return await create(rest);
      if (sub === "list") return await list(rest);
      if (sub === "revoke") return await revoke(rest);
      if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
        console.log(USAGE);
        return sub === undefined ? 2 : 0;
      }
      throw new UsageError(`unknown subcommand '${sub}'`);
    } catch (err) {
      const usage = isUsageError(err);
      console.error(`loraplex keys: ${(err as Error).message}${usage ? `\n\n${USAGE}` : ""}`);
      return usage ? 2 : 1;
    }
  },
};

async function withStore<T>(
  needSecret: boolean,
  fn: (store: ReturnType<typeof createKeyStore>) => Promise<T>,
): Promise<T> {
  const cfg = loadServiceConfig();
  const secret = needSecret
    ? loadKeySecret(process.env, { warn: (m) => console.error(`warning: ${m}`) })
    : undefined;
  const pool = createPgPool(cfg, { max: 2, schema: cfg.DATABASE_SCHEMA });
  const redis = needSecret ? undefined : createRedis(cfg, { lazyConnect: true });
  redis?.on("error", () => {}); // reported through `announced`
  try {
    await migrate(pool, { schema: cfg.DATABASE_SCHEMA });
    return await fn(
      createKeyStore({
        pool,
        secret,
        redis,
        channel: createKeySpace({ schema: cfg.DATABASE_SCHEMA }).keyRevocations(),
      }),
    );
  } finally {
    redis?.disconnect();
    await pool.end();
  }
}

async function create(argv: string[]): Promise<number> {
  // Without allowPositionals, parseArgs itself rejects stray arguments (a usage error).
  const { values } = parseArgs({
    args: argv,
    options: {
      tenant: { type: "string" },
      name: { type: "string" },
      "tenants-dir": { type: "string", default: "manifests/samples" },
      check: { type: "boolean", default: true },
      json: { type: "boolean", default: false },
    },
    allowNegative: true,
  });
  if (!values.tenant) throw new UsageError("--tenant is required");
  const tenant = values.tenant;
  if (values.check) {
    const dir = values["tenants-dir"];
    const { tenants } = await loadTenantDir(dir).catch((err: Error) => {
      throw new Error(
        `cannot read tenants from '${dir}' (${err.message}); pass --tenants-dir, or --no-check`,
      );
    });
    if (!tenants.some((t) => t.metadata.name === tenant)) {
      const known = tenants.map((t) => t.metadata.name).join(", ") || "none";
      throw new Error(
        `no valid Tenant '${tenant}' in ${dir} (found: ${known}); pass --no-check to skip this check`,
      );
    }
  }
  const created = await withStore(true, (store) => store.createKey(tenant, values.name ?? null));
  if (values.json) {
    console.log(JSON.stringify(created));
  } else {
    console.log(created.key);
    console.error(
      `created ${created.id} for tenant '${tenant}'; store the key now, it cannot be shown again`,
    );
  }
  return 0;
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { tenant: { type: "string" }, json: { type: "boolean", default: false } },
  });
  const keys = await withStore(false, (store) => store.listKeys(values.tenant));
  if (values.json) console.log(JSON.stringify(keys));
  else console.log(table(keys));
  return 0;
}

async function revoke(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: "boolean", default: false } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("revoke takes exactly one key id");
  const id = positionals[0]!;
  const revoked = await withStore(false, (store) => store.revokeKey(id));
  if (!revoked) {
    console.error(`loraplex keys: no key '${id}'`);
    return 1;
  }
  if (values.json) console.log(JSON.stringify(revoked));
  else console.log(`revoked ${revoked.id} (tenant '${revoked.tenant}') at ${revoked.revoked_at}`);
  if (!revoked.announced) {
    console.error(
      `warning: could not announce the revocation on Redis; running routers stop accepting the key within ${DEFAULT_POSITIVE_TTL_MS / 1000} s`,
    );
  }
  return 0;
}

function table(keys: KeyInfo[]): string {
  const rows = [
    ["ID", "TENANT", "NAME", "PREFIX", "CREATED", "LAST USED", "STATUS"],
    ...keys.map((k) => [
      k.id,
      k.tenant,
      k.name ?? "",
      k.prefix,
      k.created_at,
      k.last_used_at ?? "never",
      k.revoked_at ? `revoked ${k.revoked_at}` : "active",
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
