// Least privilege on the real cluster: what each of the chart's ServiceAccounts may do
// (`kubectl auth can-i --list`, impersonating it) is exactly the README's RBAC table, cluster-wide
// and in its release namespace; and the components' logs, after everything the e2e run made
// them do (this file runs last, vitest.e2e.config.ts), hold no `forbidden` answer from the API.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { kubectl, SYSTEM_NS } from "./cluster.ts";

type Row = { sa: string; where: "cluster" | "release namespace"; rule: string };

/** The README table's rows, one `resource [names] verb` string per verb. */
function readmeRules(): Row[] {
  const rows: Row[] = [];
  for (const line of readFileSync("README.md", "utf8").split("\n")) {
    const m =
      /^\|\s*`(loraplex-[a-z-]+)`\s*\|\s*(cluster|release namespace)\s*\|\s*`([^`]+)`\s*\|\s*`?([^`|]*?)`?\s*\|\s*([^|]+?)\s*\|$/.exec(
        line,
      );
    if (!m) continue;
    const [, sa, where, resource, names, verbs] = m;
    for (const verb of verbs!.split(",").map((v) => v.trim())) {
      rows.push({ sa: sa!, where: where as Row["where"], rule: `${resource} [${names}] ${verb}` });
    }
  }
  return rows;
}

// Every authenticated user may review itself; that is the API server's, not the chart's.
const EVERYONE = /^selfsubject(reviews|accessreviews|rulesreviews)\./;

/** `kubectl auth can-i --list` for a ServiceAccount in a namespace, as `resource [names] verb` strings. */
function canI(sa: string, ns: string): string[] {
  const out = kubectl("auth", "can-i", "--list", "-n", ns, `--as=system:serviceaccount:${SYSTEM_NS}:${sa}`);
  const rules: string[] = [];
  for (const line of out.split("\n").slice(1)) {
    // Columns: Resources, Non-Resource URLs, Resource Names, Verbs. Non-resource rows start blank.
    const m = /^(\S+)\s+\[[^\]]*\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s*$/.exec(line);
    if (!m || EVERYONE.test(m[1]!)) continue;
    for (const verb of m[3]!.split(" ").filter(Boolean)) rules.push(`${m[1]} [${m[2]}] ${verb}`);
  }
  return rules.sort();
}

const table = readmeRules();
const accounts = kubectl("-n", SYSTEM_NS, "get", "serviceaccounts", "-o", "name")
  .split("\n")
  .map((n) => n.replace("serviceaccount/", ""))
  .filter((n) => table.some((r) => r.sa === n));

describe("least privilege of the chart's ServiceAccounts", () => {
  it("the README's table covers the installed accounts", () => {
    expect(accounts).toEqual(expect.arrayContaining(["loraplex-controller", "loraplex-router"]));
  });

  it.each(accounts)("%s may do exactly what the README's RBAC table lists", (sa) => {
    const rows = table.filter((r) => r.sa === sa);
    const clusterWide = rows.filter((r) => r.where === "cluster").map((r) => r.rule);
    // In its release namespace: the cluster-wide rules and the Role's.
    expect(canI(sa, SYSTEM_NS)).toEqual(rows.map((r) => r.rule).sort());
    // In a tenant's namespace: the cluster-wide rules only.
    expect(canI(sa, "tenant-globex")).toEqual(clusterWide.sort());
  });

  it.each(["loraplex-controller", "loraplex-router", "loraplex-trainer"])(
    "%s's logs hold no forbidden answer",
    (name) => {
      const logs = kubectl(
        ..."-n loraplex-system logs --all-containers --prefix --tail=-1".split(" "),
        "-l",
        `app.kubernetes.io/name=${name}`,
      );
      expect(logs).not.toBe("");
      expect(logs.split("\n").filter((l) => /forbidden/i.test(l))).toEqual([]);
    },
  );
});
