// Calls the integration tests make through the official `openai` client, shared by the features
// that store files and expect refusals.
import OpenAI, { toFile } from "openai";

/** Uploads `text` as a file for vector stores and file_search. */
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
