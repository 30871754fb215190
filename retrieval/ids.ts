// Identifiers of the vector store API. Ids are parsed, never trusted: a string that is not a
// well-formed id of the right kind is answered exactly like an id that does not exist (404), so
// a malformed id never reaches SQL or a Redis key and never tells a caller anything.
import { randomBytes } from "node:crypto";
import { z } from "zod";

const hex = () => randomBytes(12).toString("hex");

export const VectorStoreId = z.string().regex(/^vs_[a-f0-9]{24}$/);
export const FileBatchId = z.string().regex(/^vsfb_[a-f0-9]{24}$/);
/** Files of the files API (router/files/files-store.ts newFileId). */
export const FileId = z.string().regex(/^file-[a-f0-9]{24}$/);

export const newVectorStoreId = () => `vs_${hex()}`;
export const newFileBatchId = () => `vsfb_${hex()}`;

/** The id when it is well formed, else undefined (the caller answers 404). */
export function parseId(schema: z.ZodString, value: unknown): string | undefined {
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}
