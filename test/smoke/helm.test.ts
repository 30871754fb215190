import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { uniqueName } from "../support/unique.ts";

describe("helm and kubectl against the test control plane", () => {
  const dir = mkdtempSync(join(tmpdir(), "helm-smoke-"));
  const env = {
    ...process.env,
    KUBECONFIG: inject("kubeconfigPath"),
    HELM_CACHE_HOME: join(dir, "cache"),
    HELM_CONFIG_HOME: join(dir, "config"),
  };
  const ns = uniqueName("helm");
  afterAll(() => {
    execFileSync(inject("kubectl"), ["delete", "namespace", ns, "--wait=false", "--ignore-not-found"], {
      env,
    });
    rmSync(dir, { recursive: true, force: true });
  });

  it("renders a minimal chart and the API server accepts it on server-side dry run", () => {
    const chart = join(dir, "mini");
    mkdirSync(join(chart, "templates"), { recursive: true });
    writeFileSync(join(chart, "Chart.yaml"), "apiVersion: v2\nname: mini\nversion: 0.1.0\n");
    writeFileSync(join(chart, "values.yaml"), "greeting: hello\n");
    writeFileSync(
      join(chart, "templates", "cm.yaml"),
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
    );
    execFileSync(inject("kubectl"), ["create", "namespace", ns], { env });
    const rendered = execFileSync(inject("helm"), ["template", "demo", chart, "--namespace", ns], {
      env,
      encoding: "utf8",
    });
    expect(rendered).toContain("demo-cm");
    const out = execFileSync(
      inject("kubectl"),
      ["apply", "--server-side", "--dry-run=server", "-n", ns, "-f", "-", "-o", "name"],
      { env, input: rendered, encoding: "utf8" },
    );
    expect(out.trim()).toBe("configmap/demo-cm");
  });
});
