// Two tenants behind a real `loraplex router` process with metering on, one engine simulator
// replica with its adapter agent, real Postgres (pgvector), Redis and S3: acme has an adapter and
// a system prompt, both tenants have vector stores. Own schema, Redis prefix and S3 prefixes
// (uniqueName), so this suite runs beside the others.
import OpenAI from "openai";
import type pg from "pg";
import { loadServiceConfig } from "../../core/config.ts";
import { createPgPool } from "../../core/db.ts";
import { createS3Client } from "../../core/s3.ts";
import { type MeteredStack, MODEL, startMeteredStack, tenantYaml } from "../metering/harness-routers.ts";
import { uploadAdapter } from "../support/stack.ts";
import { uniqueName } from "../support/unique.ts";

export { MODEL };
export const ADAPTER = "support-bot";
export const SYSTEM_PROMPT = "You are Acme's assistant.";

export type ResponsesStack = {
  stack: MeteredStack;
  url: string;
  acme: string;
  initech: string;
  keys: Record<string, string>;
  /** The router's own schema, for checking what was billed and audited. */
  db: pg.Pool;
  client(tenant: string): OpenAI;
  stop(): Promise<void>;
};

export async function startResponsesStack(): Promise<ResponsesStack> {
  const cfg = loadServiceConfig();
  const acme = uniqueName("acme");
  const initech = uniqueName("initech");
  const s3 = createS3Client(cfg);
  const adapter = await uploadAdapter(s3, cfg.S3_BUCKET, acme, ADAPTER, 1).finally(() => s3.destroy());
  const retrieval = `  retrieval: {embeddingModel: ${MODEL}}\n`;
  const acmeSpec =
    `${retrieval}  adapters:\n    - {name: ${ADAPTER}, baseModel: ${MODEL}, version: 1, source: "${adapter.source}"}\n` +
    `  policy: {systemPrompt: "${SYSTEM_PROMPT}", allowClientSystemPrompt: true, maxOutputTokens: 64}\n` +
    "  audit: {mode: full, retentionDays: 30}\n";
  const initechSpec = `${retrieval}  policy: {allowClientSystemPrompt: false}\n`;
  const stack = await startMeteredStack({
    routers: 1,
    tenantsYaml: [tenantYaml(acme, "{}", acmeSpec), tenantYaml(initech, "{}", initechSpec)].join("---\n"),
  });
  const keys = { [acme]: await stack.createKey(acme), [initech]: await stack.createKey(initech) };
  const url = stack.urls[0]!;
  const db = createPgPool(cfg, { schema: stack.schema, max: 2 });
  return {
    stack,
    url,
    acme,
    initech,
    keys,
    db,
    client: (t) => new OpenAI({ apiKey: keys[t], baseURL: `${url}/v1`, maxRetries: 0 }),
    async stop() {
      await db.end();
      await stack.stop();
    },
  };
}

export { failure, upload } from "../support/openai-calls.ts";
