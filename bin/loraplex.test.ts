// bin/loraplex.js run by a Node older than 24 must say in one line which Node it needs and how
// to get it, instead of dying on the first TypeScript import. The machine's own Node (Debian's,
// older than 24) plays the old Node; the test fails loudly if there is none to play it.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const OLD_NODE = process.env.LORAPLEX_OLD_NODE ?? "/usr/bin/node";
const CLI = resolve(import.meta.dirname, "loraplex.js");

describe("bin/loraplex.js on an old Node", () => {
  it("prints one line naming the Node it needs and the make target that installs it", () => {
    expect(existsSync(OLD_NODE), `no old Node at ${OLD_NODE} (set LORAPLEX_OLD_NODE)`).toBe(true);
    const version = spawnSync(OLD_NODE, ["--version"], { encoding: "utf8" }).stdout.trim();
    expect(Number(version.slice(1).split(".")[0])).toBeLessThan(24);

    const run = spawnSync(OLD_NODE, [CLI, "router", "--port", "0"], { encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe("");
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("needs Node 24 or newer");
    expect(lines[0]).toContain(version);
    expect(lines[0]).toContain("make deps");
    expect(run.stderr).not.toContain("ERR_UNKNOWN_FILE_EXTENSION");
  });
});
