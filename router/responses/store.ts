// Stored responses (migration 400): one row per response created with store: true. Reads run
// under row-level security (withTenant) with the tenant in the WHERE as well; writes and deletes
// name the tenant in every WHERE, so another tenant's id changes nothing and reads as not found.
import type pg from "pg";
import { ApiError } from "../../core/errors.ts";
import { isStorable, repairText } from "../../core/safe-text.ts";
import { withTenant } from "../../metering/tenant-db.ts";
import type { ChatMessage, StoredInputItem } from "./translate-request.ts";

/** Response ids are parsed, never trusted: a malformed one is a 404 like an unknown one. */
const RESPONSE_ID = /^resp_[a-f0-9]{48}$/;
const isResponseId = (v: unknown): v is string => typeof v === "string" && RESPONSE_ID.test(v);

export const responseNotFound = (id: string, param?: string) =>
  new ApiError(404, `Response with id '${id.slice(0, 100)}' not found.`, {
    code: "response_not_found",
    param,
  });

export type StoredResponse = {
  response: Record<string, unknown>;
  inputItems: StoredInputItem[];
  conversation: ChatMessage[];
};

/**
 * JSON that PostgreSQL's jsonb accepts: client text (values and keys) holding NUL or a lone
 * surrogate, which jsonb refuses, is stored repaired, each such character as U+FFFD, as the audit
 * trail stores it.
 */
const jsonb = (value: unknown) => JSON.stringify(storable(value));

function storable(v: unknown): unknown {
  if (typeof v === "string") return isStorable(v) ? v : repairText(v);
  if (Array.isArray(v)) return v.map(storable);
  if (typeof v !== "object" || v === null) return v;
  // No prototype: a client key "__proto__" stays a plain key.
  const out: Record<string, unknown> = Object.create(null);
  for (const [k, x] of Object.entries(v)) out[isStorable(k) ? k : repairText(k)] = storable(x);
  return out;
}

export type ResponseStore = ReturnType<typeof createResponseStore>;

export function createResponseStore(pool: pg.Pool) {
  return {
    async save(tenant: string, id: string, r: StoredResponse): Promise<void> {
      await pool.query(
        `INSERT INTO responses (id, tenant, response, input_items, conversation, created_at)
         VALUES ($1, $2, $3, $4, $5, to_timestamp($6))`,
        [
          id,
          tenant,
          jsonb(r.response),
          jsonb(r.inputItems),
          jsonb(r.conversation),
          Number(r.response.created_at),
        ],
      );
    },

    /** The stored response, or undefined for an unknown, malformed or other tenant's id. */
    async get(tenant: string, id: unknown): Promise<StoredResponse | undefined> {
      if (!isResponseId(id)) return undefined;
      return withTenant(pool, tenant, async (c) => {
        const { rows } = await c.query<{
          response: Record<string, unknown>;
          input_items: StoredInputItem[];
          conversation: ChatMessage[];
        }>("SELECT response, input_items, conversation FROM responses WHERE tenant = $1 AND id = $2", [
          tenant,
          id,
        ]);
        const row = rows[0];
        return row && { response: row.response, inputItems: row.input_items, conversation: row.conversation };
      });
    },

    /** True when the tenant had it. */
    async remove(tenant: string, id: unknown): Promise<boolean> {
      if (!isResponseId(id)) return false;
      const { rowCount } = await pool.query("DELETE FROM responses WHERE tenant = $1 AND id = $2", [
        tenant,
        id,
      ]);
      return (rowCount ?? 0) > 0;
    },
  };
}
