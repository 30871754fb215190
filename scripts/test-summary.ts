// Runs the test runner given as arguments (from node_modules/.bin), then prints one plain
// closing line, "tests: N passed, N failed, N skipped", read from vitest's JSON report,
// so CI can tell a run that tested nothing from a green one. Exits with the runner's code.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";

const report = ".loraplex/test-results.json";
rmSync(report, { force: true });
const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error("usage: node scripts/test-summary.ts <runner> [args...]");
  process.exit(2);
}
const run = spawnSync(cmd, args, { stdio: "inherit" });
let code = run.status ?? 1;

type Report = {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { status: string; assertionResults: { status: string }[] }[];
};
try {
  const r = JSON.parse(readFileSync(report, "utf8")) as Report;
  // A file whose setup failed has no failed test of its own; count it as one failure.
  const brokenFiles = r.testResults.filter(
    (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
  ).length;
  const failed = r.numFailedTests + brokenFiles;
  console.log(
    `tests: ${r.numPassedTests} passed, ${failed} failed, ${r.numPendingTests + r.numTodoTests} skipped`,
  );
  if (failed > 0) code ||= 1;
  if (r.numPassedTests === 0) {
    console.error("no test passed: treating the run as failed");
    code ||= 1;
  }
} catch {
  console.log("tests: 0 passed, 1 failed");
  console.error(`the test runner wrote no report at ${report}`);
  code ||= 1;
}
process.exit(code);
