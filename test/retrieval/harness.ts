// Two tenants with vector stores (spec.retrieval) behind a real `loraplex router` process with
// metering on, one engine simulator (its /v1/embeddings retrieves: engine-sim/text-vectors.ts),
// real Postgres with pgvector, Redis and S3. Each suite gets its own schema and Redis prefix.
import OpenAI from "openai";
import { type MeteredStack, MODEL, startMeteredStack, tenantYaml } from "../metering/harness-routers.ts";
import { uniqueName } from "../support/unique.ts";

export { MODEL };

export type RetrievalStack = {
  stack: MeteredStack;
  url: string;
  acme: string;
  initech: string;
  keys: Record<string, string>;
  client(tenant: string): OpenAI;
  stop(): Promise<void>;
};

export async function startRetrievalStack(
  opts: { prices?: object; env?: Record<string, string> } = {},
): Promise<RetrievalStack> {
  const acme = uniqueName("acme");
  const initech = uniqueName("initech");
  const retrieval = `  retrieval: {embeddingModel: ${MODEL}}\n`;
  const stack = await startMeteredStack({
    routers: 1,
    tenantsYaml: [tenantYaml(acme, "{}", retrieval), tenantYaml(initech, "{}", retrieval)].join("---\n"),
    prices: opts.prices,
    routerEnv: opts.env,
  });
  const keys = { [acme]: await stack.createKey(acme), [initech]: await stack.createKey(initech) };
  const url = stack.urls[0]!;
  return {
    stack,
    url,
    acme,
    initech,
    keys,
    client: (t) => new OpenAI({ apiKey: keys[t], baseURL: `${url}/v1`, maxRetries: 0 }),
    stop: () => stack.stop(),
  };
}

export { failure, upload } from "../support/openai-calls.ts";
