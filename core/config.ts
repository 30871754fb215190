import { z } from "zod";

// Connection settings shared by every Loraplex process. Defaults point at the servers that
// `scripts/services.sh up` starts on loopback, so tests and `make dev` need no environment.
const ServiceEnv = z.object({
  DATABASE_URL: z.string().url().default("postgres://loraplex:loraplex@127.0.0.1:25432/loraplex"),
  // Postgres schema for Loraplex's tables (search_path + migrations); unset: the server default.
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "lowercase letters, digits and '_'")
    .optional(),
  REDIS_URL: z.string().url().default("redis://127.0.0.1:26379"),
  S3_ENDPOINT: z.string().url().default("http://127.0.0.1:29000"),
  S3_BUCKET: z.string().min(3).default("loraplex"),
  S3_REGION: z.string().default("us-east-1"),
  // s3rver accepts these fixed development credentials; production takes them from a Secret.
  S3_ACCESS_KEY_ID: z.string().default("S3RVER"),
  S3_SECRET_ACCESS_KEY: z.string().default("S3RVER"),
  S3_FORCE_PATH_STYLE: z
    .enum(["true", "false"])
    .default("true")
    .transform((v) => v === "true"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type ServiceConfig = z.infer<typeof ServiceEnv>;

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const parsed = ServiceEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid environment: ${problems}`);
  }
  return parsed.data;
}
