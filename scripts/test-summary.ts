// Runs the test stages given as arguments, one after another (stages separated by ":::", each a
// command from node_modules/.bin or PATH), then prints one plain closing line,
// "tests: N passed, N failed, N skipped", summed over the vitest JSON reports the stages wrote
// (each stage gets its own file through LORAPLEX_TEST_REPORT), so CI can tell a run that tested
// nothing from a green one. Exits non-zero when any stage failed.
//   node scripts/test-summary.ts vitest run ::: bash scripts/e2e.sh test
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";

const stages: string[][] = [[]];
for (const arg of process.argv.slice(2)) {
  if (arg === ":::") stages.push([]);
  else stages.at(-1)!.push(arg);
}
if (stages.some((s) => s.length === 0)) {
  console.error("usage: node scripts/test-summary.ts <runner> [args...] [::: <runner> [args...]]...");
  process.exit(2);
}

type Report = {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { status: string; assertionResults: { status: string }[] }[];
};
let code = 0;
let passed = 0;
let failed = 0;
let skipped = 0;
for (const [i, [cmd, ...args]] of stages.entries()) {
  const report = i === 0 ? ".loraplex/test-results.json" : `.loraplex/test-results-${i}.json`;
  rmSync(report, { force: true });
  const run = spawnSync(cmd!, args, {
    stdio: "inherit",
    env: { ...process.env, LORAPLEX_TEST_REPORT: report },
  });
  code ||= run.status ?? 1;
  try {
    const r = JSON.parse(readFileSync(report, "utf8")) as Report;
    // A file whose setup failed has no failed test of its own; count it as one failure.
    const brokenFiles = r.testResults.filter(
      (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
    ).length;
    passed += r.numPassedTests;
    failed += r.numFailedTests + brokenFiles;
    skipped += r.numPendingTests + r.numTodoTests;
  } catch {
    failed += 1;
    console.error(`${[cmd, ...args].join(" ")} wrote no report at ${report}`);
    code ||= 1;
  }
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (failed > 0) code ||= 1;
if (passed === 0) {
  console.error("no test passed: treating the run as failed");
  code ||= 1;
}
process.exit(code);
