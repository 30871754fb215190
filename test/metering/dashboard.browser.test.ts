// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core. One
// tenant signs in with its key and sees its own spend, caps, chart, breakdowns and requests —
// and nothing of the other tenant — exports its CSV, and a screenshot is kept for review.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDb, testDb } from "../support/db.ts";
import { ok, type TestRedis, tenant, testRedis } from "./harness.ts";
import { type Harness, pastCtx, startHarness } from "./harness-api.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const SHOTS = join(ROOT, ".loraplex", "screenshots");

describe("tenant dashboard in headless Chromium", () => {
  let db: TestDb;
  let r: TestRedis;
  let h: Harness;
  let browser: Browser;
  let acmeKey: string;
  const acme = tenant("acme", { limits: { dailySpendUSD: 5, monthlySpendUSD: 100, requestsPerMinute: 600 } });
  // Back-dated traffic is metered without caps: Redis budgets only know "now", Postgres knows the days.
  const acmeHistory = tenant("acme");
  const globex = tenant("globex");

  beforeAll(async () => {
    const executablePath = execFileSync("bash", [join(ROOT, "scripts/chromium.sh")], {
      encoding: "utf8",
    }).trim();
    db = await testDb("dashboard");
    r = testRedis("dashboard");
    h = await startHarness(db, r, [acme, globex]);
    acmeKey = (await h.keys.createKey("acme", "dashboard")).key;
    const users = ["alice", "bob"];
    for (let d = 0; d < 5; d++) {
      for (let i = 0; i < 3; i++) {
        await h.meter(
          pastCtx(acmeHistory, d, { endUser: users[i % 2], feature: i ? "chat" : "search" }, i),
          ok(200 + d * 100, 100),
        );
      }
    }
    for (let i = 0; i < 4; i++) {
      await h.meter(
        pastCtx(globex, 0, { endUser: "globex-secret-user", feature: "globex-feature" }),
        ok(5000, 5000),
      );
    }
    await h.flush();
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
    await db?.cleanup();
    await r?.cleanup();
  });

  it("refuses a wrong key with the API's message", async () => {
    const page = await browser.newPage();
    await page.goto(`${h.url}/dashboard`);
    await page.fill('[data-testid="key"]', "lpx-notakey0-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    await page.click('button[type="submit"]');
    await page.waitForSelector('body[data-state="signed-out"] [data-testid="signin-error"]:not(:empty)');
    expect(await page.textContent('[data-testid="signin-error"]')).toMatch(/Incorrect API key/);
    await page.close();
  });

  it("shows the tenant its own figures only, and exports them as CSV", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 }, acceptDownloads: true });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(`${h.url}/dashboard`);
    await page.fill('[data-testid="key"]', acmeKey);
    await page.click('button[type="submit"]');
    await page.waitForSelector('body[data-state="ready"]');

    expect(await page.textContent('[data-testid="tenant"]')).toBe("acme");
    // Day d back: 3 requests × ((200 + 100d) in × $0.5/1k + 100 out × $1.5/1k).
    const dayCost = (d: number) => 3 * ((200 + 100 * d) * 0.0005 + 100 * 0.0015);
    expect(await page.textContent("#daily-spent")).toBe("$0.75");
    expect(await page.textContent("#daily-cap")).toBe("of $5.00 cap (15%)");
    const thisMonth = new Date().toISOString().slice(0, 7);
    let month = 0;
    for (let d = 0; d < 5; d++)
      if (new Date(Date.now() - d * 86_400_000).toISOString().startsWith(thisMonth)) month += dayCost(d);
    expect(await page.textContent("#monthly-spent")).toBe(`$${month.toFixed(2)}`);
    expect(await page.textContent("#limits-text")).toContain("600 requests/min");
    const users = await page.$$eval('[data-testid="by-user"] tbody tr td:first-child', (tds) =>
      tds.map((t) => t.textContent),
    );
    expect(users.sort()).toEqual(["alice", "bob"]);
    const features = await page.$$eval('[data-testid="by-feature"] tbody tr td:first-child', (tds) =>
      tds.map((t) => t.textContent),
    );
    expect(features.sort()).toEqual(["chat", "search"]);
    const tokens = await page.$$eval("#chart rect", (rs) =>
      rs.reduce((s, r) => s + Number(r.getAttribute("data-tokens")) / 2, 0),
    );
    // Each day's total is on both of its bars (input and output): 15 requests, 100 out each.
    expect(tokens).toBe(3 * (200 + 300 + 400 + 500 + 600) + 15 * 100);
    expect(await page.$$eval('[data-testid="recent"] tbody tr', (rows) => rows.length)).toBe(15);
    const text = (await page.textContent("body")) ?? "";
    expect(text).not.toMatch(/globex/i);

    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });

    const [download] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="csv"]')]);
    const csv = readFileSync(await download.path(), "utf8")
      .trim()
      .split("\n");
    expect(csv[0]).toBe(
      "date,model,adapter,user,feature,requests,rejected,input_tokens,output_tokens,cost_usd",
    );
    expect(csv).toHaveLength(1 + 5 * 3); // per day: alice/search, alice/chat... 3 distinct (user, feature) pairs
    expect(csv.join("\n")).not.toMatch(/globex/i);
    expect(errors).toEqual([]);
    await page.close();
  });
});
