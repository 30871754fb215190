// Hybrid ranking on a small labelled set: questions that name an exact identifier (a ticket,
// an error code, a version) whose answer sits in a long document, among short documents that
// share the question's other words. Pure vector search ranks the short look-alikes first;
// reciprocal rank fusion with full-text search (ranker "hybrid") puts the labelled answer first.
import type OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RetrievalStack, startRetrievalStack, upload } from "./harness.ts";

let s: RetrievalStack;
let acme: OpenAI;

const FILLER = [
  "Our team meets on Mondays to plan the week and review customer feedback from the forums.",
  "The cafeteria menu rotates every season and vegetarian options are always available.",
  "Parking permits are renewed each January through the facilities portal.",
  "Quarterly town halls cover hiring plans, office moves and the product roadmap.",
  "New laptops are imaged by the IT desk within three working days of the request.",
  "Travel bookings above the usual budget need a manager's approval in advance.",
];
const long = (i: number, sentence: string) =>
  [...FILLER.slice(i % 3), sentence, ...FILLER.slice(0, (i % 3) + 2)].join(" ");

/** [query, the labelled answer's file, its text, look-alikes sharing the query's other words]. */
const SET: [string, string, string, string[]][] = [
  [
    "ticket ZX-4471 status",
    "answer-ticket.txt",
    "The ticket ZX-4471 status is escalated to tier two.",
    [
      "Ticket status: every ticket has a status, open the ticket to see its status.",
      "A ticket status changes when the ticket is assigned.",
    ],
  ],
  [
    "error E4012 workspace",
    "answer-error.txt",
    "Error E4012 appears when the workspace quota is full.",
    [
      "Workspace error messages show the error and the workspace name.",
      "An error in a workspace is logged for the workspace owner.",
    ],
  ],
  [
    "router firmware v2.3.7 rollback",
    "answer-firmware.txt",
    "Rollback of router firmware v2.3.7 needs the recovery image.",
    [
      "Router firmware rollback: open the router page and choose firmware rollback.",
      "A firmware rollback restarts the router.",
    ],
  ],
  [
    "invoice INV-20931 refund",
    "answer-invoice.txt",
    "The refund for invoice INV-20931 was sent on 3 May.",
    [
      "Invoice refund: each invoice can be refunded, the refund goes to the invoice card.",
      "Refund requests name the invoice and the refund reason.",
    ],
  ],
];

beforeAll(async () => {
  s = await startRetrievalStack();
  acme = s.client(s.acme);
});
afterAll(async () => {
  await s?.stop();
});

describe("hybrid ranking (vectors + full text, reciprocal rank fusion)", () => {
  it("finds exact identifiers that pure vector search ranks below look-alikes", async () => {
    const store = await acme.vectorStores.create({ name: "labelled" });
    const ids: string[] = [];
    const answers = new Map<string, string>();
    for (const [i, [, name, sentence, lookalikes]] of SET.entries()) {
      const answer = await upload(acme, name, long(i, sentence));
      answers.set(name, answer.id);
      ids.push(answer.id);
      for (const [j, text] of lookalikes.entries())
        ids.push((await upload(acme, `lookalike-${i}-${j}.txt`, text)).id);
    }
    const batch = await acme.vectorStores.fileBatches.createAndPoll(store.id, { file_ids: ids });
    expect(batch.file_counts.completed).toBe(ids.length);

    let vectorHits = 0;
    let hybridHits = 0;
    const table: string[] = [];
    for (const [query, name] of SET) {
      const want = answers.get(name);
      const vector = await acme.vectorStores.search(store.id, { query, max_num_results: 3 });
      const hybrid = await acme.vectorStores.search(store.id, {
        query,
        max_num_results: 3,
        ranking_options: { ranker: "hybrid" as never },
      });
      const v = vector.data[0]?.file_id === want;
      const h = hybrid.data[0]?.file_id === want;
      vectorHits += v ? 1 : 0;
      hybridHits += h ? 1 : 0;
      table.push(
        `${query.padEnd(34)} vector: ${vector.data[0]?.filename}  hybrid: ${hybrid.data[0]?.filename}`,
      );
    }
    console.log(
      `hit@1 vector ${vectorHits}/${SET.length}, hybrid ${hybridHits}/${SET.length}\n${table.join("\n")}`,
    );
    expect(hybridHits).toBe(SET.length);
    expect(vectorHits).toBeLessThan(hybridHits);
  });
});
