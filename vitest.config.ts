import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", ".tools/**", ".loraplex/**", "test/cluster/**"],
    // One set of local services and one Kubernetes control plane per run, shared by every file;
    // files isolate themselves with their own schema, key prefix, S3 prefix and namespace.
    globalSetup: ["test/setup/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    pool: "forks",
    reporters: ["default", ["json", { outputFile: ".loraplex/test-results.json" }]],
  },
});
