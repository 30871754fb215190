// Request bodies of the vector store API, parsed with zod: unknown fields and wrong types are
// a 400 naming the field (router/vector-stores/parse.ts), never a crash or a silent default.
import { z } from "zod";
import { ChunkingStrategyParam } from "./chunking.ts";
import { checkFilterSize, Filter } from "./filters.ts";
import { FileId } from "./ids.ts";

// Stored client text: NUL cannot be stored in PostgreSQL text and has no place in names.
const Text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes("\u0000"), "must not contain NUL");

const Metadata = z.record(Text(64), Text(512)).refine((m) => Object.keys(m).length <= 16, "at most 16 keys");

export const Attributes = z
  .record(Text(64), z.union([Text(512), z.number().finite(), z.boolean()]))
  .refine((m) => Object.keys(m).length <= 16, "at most 16 keys");
export type Attributes = z.infer<typeof Attributes>;

const ExpiresAfter = z
  .object({ anchor: z.literal("last_active_at"), days: z.number().int().min(1).max(365) })
  .strict();

const FileIds = z.array(FileId).max(500);

export const CreateStoreBody = z
  .object({
    name: Text(256).optional(),
    description: Text(512).optional(),
    metadata: Metadata.nullish(),
    expires_after: ExpiresAfter.optional(),
    file_ids: FileIds.optional(),
    chunking_strategy: ChunkingStrategyParam.optional(),
  })
  .strict();

export const UpdateStoreBody = z
  .object({
    name: Text(256).nullish(),
    metadata: Metadata.nullish(),
    expires_after: ExpiresAfter.nullish(),
  })
  .strict();

export const CreateFileBody = z
  .object({
    file_id: FileId,
    attributes: Attributes.nullish(),
    chunking_strategy: ChunkingStrategyParam.optional(),
  })
  .strict();

export const UpdateFileBody = z.object({ attributes: Attributes.nullable() }).strict();

export const CreateBatchBody = z
  .object({
    file_ids: FileIds.min(1).optional(),
    files: z
      .array(
        z
          .object({
            file_id: FileId,
            attributes: Attributes.nullish(),
            chunking_strategy: ChunkingStrategyParam.optional(),
          })
          .strict(),
      )
      .min(1)
      .max(500)
      .optional(),
    attributes: Attributes.nullish(),
    chunking_strategy: ChunkingStrategyParam.optional(),
  })
  .strict()
  .refine((b) => (b.file_ids === undefined) !== (b.files === undefined), {
    message: "give exactly one of file_ids and files",
    path: ["file_ids"],
  });

/** Loraplex's ranker beyond OpenAI's: reciprocal rank fusion of vectors and full-text search. */
export const HYBRID_RANKER = "hybrid";

export const SearchBody = z
  .object({
    query: z.union([Text(4096).min(1), z.array(Text(4096).min(1)).min(1).max(10)]),
    max_num_results: z.number().int().min(1).max(50).optional(),
    filters: Filter.superRefine((f, ctx) => {
      const e = checkFilterSize(f);
      if (e) ctx.addIssue({ code: "custom", message: e });
    }).optional(),
    ranking_options: z
      .object({
        ranker: z.enum(["none", "auto", "default-2024-11-15", HYBRID_RANKER]).optional(),
        score_threshold: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional(),
    rewrite_query: z.boolean().optional(),
  })
  .strict();
export type SearchBody = z.infer<typeof SearchBody>;
