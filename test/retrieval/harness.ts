// Two tenants with vector stores (spec.retrieval) behind a real `loraplex router` process with
// metering on, one engine simulator (its /v1/embeddings retrieves: engine-sim/text-vectors.ts),
// real Postgres with pgvector, Redis and S3. Each suite gets its own schema and Redis prefix.
import OpenAI, { toFile } from "openai";
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

export async function upload(client: OpenAI, name: string, text: string) {
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: "assistants" });
}

/** The status and OpenAI error body of a call that must fail. */
export async function failure(
  p: Promise<unknown>,
): Promise<{ status: number; error: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError)
      return { status: e.status as number, error: e.error as Record<string, unknown> };
    throw e;
  }
  throw new Error("expected the call to fail");
}
