// Steps of scripts/e2e.sh that speak S3 or HTTP rather than kubectl:
//   node scripts/e2e-setup.ts adapters   generate the sample tenants' adapters and upload them to
//                                        the S3 server, where the agent sidecars pull them from
//   node scripts/e2e-setup.ts keys       create an API key per sample tenant through the router's
//                                        admin API ($ROUTER_URL, $ADMIN_TOKEN); print .loraplex/e2e.json
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { loadTenantDir } from "../tenants/dir-source.ts";
import { SAMPLES, uploadAdapters } from "./demo-stack.ts";

const ROOT = resolve(import.meta.dirname, "..");

async function sampleTenants() {
  const { tenants, problems } = await loadTenantDir(SAMPLES);
  if (problems.length) throw new Error(`invalid sample tenants: ${JSON.stringify(problems)}`);
  return tenants;
}

async function createKeys(routerUrl: string, adminToken: string): Promise<Record<string, string>> {
  const keys: Record<string, string> = {};
  for (const t of await sampleTenants()) {
    const r = await fetch(`${routerUrl}/admin/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ tenant: t.metadata.name, name: "e2e" }),
    });
    if (r.status !== 201)
      throw new Error(`creating a key for ${t.metadata.name}: ${r.status} ${await r.text()}`);
    keys[t.metadata.name] = ((await r.json()) as { key: string }).key;
  }
  return keys;
}

const step = process.argv[2];
if (step === "adapters") {
  await mkdir(join(ROOT, ".loraplex/demo"), { recursive: true });
  await uploadAdapters(await sampleTenants());
} else if (step === "keys") {
  const routerUrl = process.env.ROUTER_URL;
  const adminToken = process.env.ADMIN_TOKEN;
  if (!routerUrl || !adminToken) throw new Error("ROUTER_URL and ADMIN_TOKEN must be set");
  const keys = await createKeys(routerUrl, adminToken);
  const kubeconfig = join(ROOT, ".loraplex/kubeconfig");
  console.log(JSON.stringify({ routerUrl, adminToken, keys, kubeconfig }, null, 2));
} else {
  console.error("usage: node scripts/e2e-setup.ts adapters|keys");
  process.exit(2);
}
