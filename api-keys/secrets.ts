// The two secrets an operator gives the router: LORAPLEX_KEY_SECRET (root of the API-key HMAC
// and of the per-tenant cache_salt) and LORAPLEX_ADMIN_TOKEN (the operator admin API). Both are
// required; well-known development values exist only behind LORAPLEX_DEV_SECRETS=1, for local
// mode (`make dev`, `make demo`, tests), and a warning says so.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const MIN_LENGTH = 32;
const DEV_KEY_SECRET = "loraplex-development-key-secret-never-use-in-production";
const DEV_SECRETS_ENV = "LORAPLEX_DEV_SECRETS";

export type SecretOptions = {
  /** Allow the development fallback; default: LORAPLEX_DEV_SECRETS=1 in the environment. */
  allowDevDefault?: boolean;
  warn?: (message: string) => void;
};

function devAllowed(env: NodeJS.ProcessEnv, opts: SecretOptions): boolean {
  return opts.allowDevDefault ?? env[DEV_SECRETS_ENV] === "1";
}

/** The server secret, as bytes. Throws a message that says how to set it when it is missing. */
export function loadKeySecret(env: NodeJS.ProcessEnv = process.env, opts: SecretOptions = {}): Buffer {
  const value = env.LORAPLEX_KEY_SECRET;
  if (value === undefined || value === "") {
    if (!devAllowed(env, opts)) {
      throw new Error(
        "LORAPLEX_KEY_SECRET is not set: it is required to hash API keys (e.g. `openssl rand -base64 48`); " +
          `for local development only, set ${DEV_SECRETS_ENV}=1 to use a built-in development secret`,
      );
    }
    opts.warn?.("using the built-in development key secret (LORAPLEX_DEV_SECRETS=1); never in production");
    return Buffer.from(DEV_KEY_SECRET);
  }
  if (value.length < MIN_LENGTH)
    throw new Error(`LORAPLEX_KEY_SECRET must be at least ${MIN_LENGTH} characters`);
  return Buffer.from(value);
}

/**
 * The operator admin token. In development mode without one, a random token is generated
 * (the caller prints it or writes it to .loraplex/dev.json). A token shaped like a tenant key
 * is refused, so the two kinds of credential can never be confused.
 */
export function loadAdminToken(env: NodeJS.ProcessEnv = process.env, opts: SecretOptions = {}): string {
  const value = env.LORAPLEX_ADMIN_TOKEN;
  if (value === undefined || value === "") {
    if (!devAllowed(env, opts)) {
      throw new Error(
        "LORAPLEX_ADMIN_TOKEN is not set: it is required for the admin API (e.g. `openssl rand -base64 32`); " +
          `for local development only, set ${DEV_SECRETS_ENV}=1 to generate one at start`,
      );
    }
    opts.warn?.("generated a random admin token (LORAPLEX_DEV_SECRETS=1)");
    return `lpxadm_${randomBytes(32).toString("base64url")}`;
  }
  if (value.length < MIN_LENGTH)
    throw new Error(`LORAPLEX_ADMIN_TOKEN must be at least ${MIN_LENGTH} characters`);
  if (value.startsWith("lpx-"))
    throw new Error("LORAPLEX_ADMIN_TOKEN must not start with 'lpx-' (tenant keys do)");
  return value;
}

/** Whether a presented token is the admin token, in time that does not depend on how much matched. */
export function adminTokenMatcher(adminToken: string): (presented: string | undefined) => boolean {
  const digest = (s: string) => createHash("sha256").update(s).digest();
  const expected = digest(adminToken);
  // Equal-length digests make the comparison constant-time whatever was sent.
  return (presented) => presented !== undefined && timingSafeEqual(digest(presented), expected);
}

/** A purpose-bound key, so the API-key HMAC and the cache salt never share a key. */
export function deriveKey(secret: Buffer | string, purpose: string): Buffer {
  return createHmac("sha256", secret).update(`loraplex/${purpose}/v1`).digest();
}
