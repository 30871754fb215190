// Calls the integration tests make through the official `openai` client, shared by the features
// that store files, fine-tune and expect refusals.
import OpenAI, { toFile } from "openai";

/** Uploads `text` as a file for vector stores and file_search. */
export async function upload(client: OpenAI, name: string, text: string) {
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: "assistants" });
}

/**
 * Uploads chat examples (one JSON line each) as a fine-tuning file and starts a fine-tune on it:
 * `n_epochs` 2, `batch_size` 2, so N examples make 2 × ceil(N / 2) training steps.
 */
export async function startFineTune(client: OpenAI, model: string, examples: string[], suffix: string) {
  const file = await client.files.create({
    file: await toFile(Buffer.from(`${examples.join("\n")}\n`), "train.jsonl"),
    purpose: "fine-tune",
  });
  return client.fineTuning.jobs.create({
    model,
    training_file: file.id,
    suffix,
    hyperparameters: { n_epochs: 2, batch_size: 2 },
  });
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
