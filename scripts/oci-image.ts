// Writes an OCI image archive (the layout `ctr images import` and `docker load` read) from layer
// tarballs that scripts/images.sh prepared, without a container engine: the layers are hashed
// (each digest cached beside its tarball, so an unchanged runtime layer is hashed once), the
// image config, manifest and index are written, and the blobs are linked, not copied, into the
// archive's staging folder. Layers are uncompressed: the archive only travels to the containerd
// on this machine, and gzip would be most of the build time on 2 cores.
//   node scripts/oci-image.ts ARCHIVE REF CONFIG-JSON LAYER.tar...
// CONFIG-JSON is the image's runtime config (User, Env, Entrypoint, Cmd, WorkingDir).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createReadStream,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";

type Blob = { digest: string; size: number };

async function fileDigest(path: string): Promise<Blob> {
  const size = statSync(path).size;
  const memo = `${path}.sha256`;
  // The memo is trusted only while it is newer than the layer and names the same size.
  if (existsSync(memo) && statSync(memo).mtimeMs >= statSync(path).mtimeMs) {
    const [digest, memoSize] = readFileSync(memo, "utf8").trim().split(" ");
    if (digest && Number(memoSize) === size) return { digest, size };
  }
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const digest = `sha256:${hash.digest("hex")}`;
  writeFileSync(memo, `${digest} ${size}\n`);
  return { digest, size };
}

function putJson(blobs: string, value: unknown): Blob {
  const body = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  writeFileSync(join(blobs, digest.slice(7)), body);
  return { digest, size: body.length };
}

async function main(): Promise<void> {
  const [archive, ref, configJson, ...layers] = process.argv.slice(2);
  if (!archive || !ref || !configJson || layers.length === 0) {
    throw new Error("usage: node scripts/oci-image.ts ARCHIVE REF CONFIG-JSON LAYER.tar...");
  }
  const stage = mkdtempSync(join(dirname(archive), ".oci-stage-"));
  try {
    const blobs = join(stage, "blobs", "sha256");
    mkdirSync(blobs, { recursive: true });
    const layerBlobs: Blob[] = [];
    for (const layer of layers) {
      const blob = await fileDigest(layer);
      const target = join(blobs, blob.digest.slice(7));
      if (!existsSync(target)) linkSync(layer, target);
      layerBlobs.push(blob);
    }
    const config = putJson(blobs, {
      architecture: "amd64",
      os: "linux",
      config: JSON.parse(configJson),
      // Uncompressed layers: each diff id is the layer's own digest.
      rootfs: { type: "layers", diff_ids: layerBlobs.map((b) => b.digest) },
    });
    const manifest = putJson(blobs, {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: layerBlobs.map((b) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...b })),
    });
    writeFileSync(join(stage, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    writeFileSync(
      join(stage, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            ...manifest,
            annotations: { "org.opencontainers.image.ref.name": ref },
          },
        ],
      }),
    );
    execFileSync("tar", ["-cf", `${archive}.tmp`, "-C", stage, "oci-layout", "index.json", "blobs"]);
    renameSync(`${archive}.tmp`, archive);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

await main();
