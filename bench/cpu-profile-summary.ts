// Summarises a V8 .cpuprofile (node --cpu-prof) by self time: the functions and the files (or
// npm packages) where the samples landed, as a share of all non-idle samples.
//
//   node bench/cpu-profile-summary.ts FILE.cpuprofile [--top 30]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

export type SelfTime = { name: string; ms: number; pct: number };

/** Where a frame lives: a repository-relative path, an npm package, or a V8/Node builtin. */
function placeOf(url: string): string {
  if (!url) return "(native)";
  if (url.startsWith("node:")) return url;
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return `npm:${rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const repo = url.match(/\/(router|core|metering|tenants|api-keys|kube|bench|retrieval)\/.*$/);
  return repo ? repo[0].slice(1) : url.replace(/^file:\/\//, "");
}

const IDLE = new Set(["(idle)", "(program)", "(garbage collector)"]);

export function summarize(p: Profile): {
  totalMs: number;
  idleMs: number;
  gcMs: number;
  byFunction: SelfTime[];
  byFile: SelfTime[];
} {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let gc = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === "(idle)") {
      idle += us;
      continue;
    }
    if (f.functionName === "(garbage collector)") gc += us;
    busy += us;
    const place = IDLE.has(f.functionName) ? f.functionName : placeOf(f.url);
    const name = `${f.functionName || "(anonymous)"} ${place}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    file.set(place, (file.get(place) ?? 0) + us);
  }
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, ms: us / 1000, pct: (100 * us) / Math.max(1, busy) }));
  return {
    totalMs: busy / 1000,
    idleMs: idle / 1000,
    gcMs: gc / 1000,
    byFunction: rank(fn),
    byFile: rank(file),
  };
}

export function printSummary(s: ReturnType<typeof summarize>, top: number): void {
  console.log(
    `busy ${s.totalMs.toFixed(0)} ms (GC ${s.gcMs.toFixed(0)} ms, ${((100 * s.gcMs) / Math.max(1, s.totalMs)).toFixed(1)} %), idle ${s.idleMs.toFixed(0)} ms`,
  );
  console.log("\nself time by file / package:");
  for (const r of s.byFile.slice(0, top)) console.log(`  ${r.pct.toFixed(1).padStart(5)} %  ${r.name}`);
  console.log("\nself time by function:");
  for (const r of s.byFunction.slice(0, top)) console.log(`  ${r.pct.toFixed(1).padStart(5)} %  ${r.name}`);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string", default: "30" } },
  });
  for (const file of positionals) {
    console.log(`== ${file}`);
    printSummary(summarize(JSON.parse(readFileSync(file, "utf8")) as Profile), Number(values.top));
  }
}
