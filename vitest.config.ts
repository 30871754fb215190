import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Two tiers. `unit`: the *.test.ts files next to the code they test; they start no server and no
// process (`make test-unit`). `integration`: everything under test/, against real PostgreSQL,
// Redis, the S3 server, a Kubernetes test control plane and Loraplex processes started through
// test/support/stack.ts; its global setup starts those services and the control plane once per run.
const outside = ["node_modules/**", ".tools/**", ".loraplex/**"];

// Node's on-disk compile cache (the compiled code of every module it loads; an entry is used only
// while its source is unchanged) for the whole run: vitest's workers and every `loraplex` process
// the integration tests start inherit this variable. Nearly every file starts a router, engine
// simulators, agents or a controller; once the first of each kind has filled the cache, a router
// loads in ~0.7 s instead of ~1.1 s. Entries are keyed by absolute path, so the cache stays in
// this checkout (a fresh clone fills its own within the run's first seconds).
process.env.NODE_COMPILE_CACHE ??= fileURLToPath(new URL(".loraplex/node-compile-cache", import.meta.url));

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    pool: "forks",
    // One test file per core, at least two. Vitest's default in a run is one fewer than the cores
    // (it keeps one for itself), which on a 2-core CI machine ran the whole suite one file at a
    // time; integration files spend much of their time waiting on child processes, services and
    // polls, so a second one fits beside the first (measured on 2 cores at load 3-6: 490 s with
    // one worker, 308 s with two).
    maxWorkers: Math.max(2, availableParallelism()),
    reporters: ["default", ["json", { outputFile: ".loraplex/test-results.json" }]],
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["**/*.test.ts"], exclude: [...outside, "test/**"] },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          exclude: [...outside, "test/cluster/**"],
          // Files share these services and isolate themselves with their own schema, key prefix,
          // S3 prefix and namespace.
          globalSetup: ["test/setup/global-setup.ts"],
        },
      },
    ],
  },
});
