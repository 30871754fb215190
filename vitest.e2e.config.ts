import { defineConfig } from "vitest/config";

// The end-to-end tests (test/e2e/*.e2e.ts) run against Loraplex installed by its Helm chart on
// the local test cluster, which scripts/e2e.sh sets up first and describes in .loraplex/e2e.json.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    reporters: [
      "default",
      ["json", { outputFile: process.env.LORAPLEX_TEST_REPORT ?? ".loraplex/e2e-results.json" }],
    ],
  },
});
