// The page every OpenAI list endpoint answers: the items, the first and last ids (the cursors a
// client passes back as `after`/`before`) and whether more follow.
import type { Response } from "express";

export function sendList<T extends { id: string }>(res: Response, page: { data: T[]; has_more: boolean }) {
  res.json({
    object: "list",
    data: page.data,
    first_id: page.data[0]?.id ?? null,
    last_id: page.data.at(-1)?.id ?? null,
    has_more: page.has_more,
  });
}
