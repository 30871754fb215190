// The file_search tool, run by the router before the model answers: the request's last user
// text is searched in the caller's own vector stores (router/vector-stores/run-search.ts: another
// tenant's store is the same 404 as an unknown one, and the search is metered as a retrieval
// call), and the hits become a system message placed right after the tenant's system prompt,
// each headed by its file name, plus the file_search_call output item and the citations.

import type { Authenticated } from "../../core/request-context.ts";
import type { SearchHit } from "../../retrieval/search.ts";
import type { FileSearchTool } from "./schema.ts";
import type { SearchStores } from "./services.ts";
import { itemId } from "./translate-request.ts";

export type FileCitation = { type: "file_citation"; file_id: string; filename: string; index: number };

export type FileSearchRun = {
  /** The file_search_call output item; `results` filled in only when include asks for them. */
  item: Record<string, unknown>;
  /** The system message with the retrieved excerpts (undefined: nothing was found). */
  context?: string;
  /** One per distinct file the context quoted, in ranking order; indexed at the end of the text. */
  files: { file_id: string; filename: string }[];
};

const DEFAULT_RESULTS = 10;

export async function runFileSearch(
  search: SearchStores,
  caller: Authenticated,
  tool: FileSearchTool,
  query: string,
  includeResults: boolean,
): Promise<FileSearchRun> {
  const hits = await search(caller, {
    storeIds: tool.vector_store_ids,
    text: query,
    k: tool.max_num_results ?? DEFAULT_RESULTS,
    filters: tool.filters ?? undefined,
    hybrid: tool.ranking_options?.ranker === "hybrid",
    scoreThreshold: tool.ranking_options?.score_threshold ?? undefined,
  });
  const item = {
    id: itemId("fs"),
    type: "file_search_call",
    status: "completed",
    queries: [query],
    results: includeResults ? hits.map(resultOf) : null,
  };
  const files = new Map<string, string>();
  for (const h of hits) if (!files.has(h.file_id)) files.set(h.file_id, h.filename);
  return {
    item,
    context: hits.length > 0 ? contextOf(hits) : undefined,
    files: [...files].map(([file_id, filename]) => ({ file_id, filename })),
  };
}

function resultOf(h: SearchHit) {
  return {
    file_id: h.file_id,
    filename: h.filename,
    score: h.score,
    attributes: h.attributes,
    text: h.content.map((c) => c.text).join("\n"),
  };
}

function contextOf(hits: SearchHit[]): string {
  const parts = hits.map(
    (h, i) => `[${i + 1}] File: ${h.filename || h.file_id}\n${h.content.map((c) => c.text).join("\n")}`,
  );
  return (
    "Excerpts from the user's files found by file search. Answer from them where they are relevant " +
    `and name the file you used.\n\n${parts.join("\n\n")}`
  );
}

/** Citations of the files the answer was given, at the end of its text. */
export function citationsFor(run: FileSearchRun | undefined, text: string): FileCitation[] {
  return (run?.files ?? []).map((f) => ({ type: "file_citation", ...f, index: text.length }));
}
