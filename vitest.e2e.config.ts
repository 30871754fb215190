import { basename } from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

// The end-to-end tests (test/e2e/*.e2e.ts) run against Loraplex installed by its Helm chart on
// the local test cluster, which scripts/e2e.sh sets up first and describes in .loraplex/e2e.json.
// They share that one installation, one file at a time, in this order: the disruptive ones
// (each restores what it changes) after the plain ones, and least privilege last, because it
// reads the components' logs for `forbidden` after everything else made them work.
const ORDER = [
  "router",
  "fine-tune",
  "pod-security",
  "network-isolation",
  "engine-failover",
  "leader-failover",
  "router-upgrade",
  "tenant-deletion",
  "least-privilege",
];
const rank = (spec: TestSpecification) => {
  const i = ORDER.indexOf(basename(spec.moduleId, ".e2e.ts"));
  return i === -1 ? ORDER.length - 1.5 : i; // an unlisted file: before least-privilege
};

class E2eOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    sequence: { sequencer: E2eOrder },
    reporters: [
      "default",
      ["json", { outputFile: process.env.LORAPLEX_TEST_REPORT ?? ".loraplex/e2e-results.json" }],
    ],
  },
});
