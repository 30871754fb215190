// Fetches an adapter's two files from S3 into a directory the caller owns. The caller reserves
// cache space once the sizes are known (before any byte is written) and cleans up on failure.
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from "@aws-sdk/client-s3";
import { CONFIG_FILE, WEIGHTS_FILE } from "../core/peft.ts";
import { AgentFailure } from "./errors.ts";

export type DownloadResult = { bytes: number; ms: number };

export type Downloader = {
  /**
   * Downloads adapter_config.json and adapter_model.safetensors under `prefix` into `dir`.
   * `reserve(totalBytes)` runs after both objects answered and before their bodies are read;
   * throwing from it aborts the download.
   */
  download(
    prefix: string,
    dir: string,
    reserve: (totalBytes: number) => Promise<void>,
  ): Promise<DownloadResult>;
};

export function createDownloader(opts: { s3: S3Client; bucket: string; timeoutMs?: number }): Downloader {
  const { s3, bucket } = opts;
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;

  return {
    async download(prefix, dir, reserve) {
      const started = performance.now();
      const signal = AbortSignal.timeout(timeoutMs);
      const files = [CONFIG_FILE, WEIGHTS_FILE];
      // Both requests in flight at once; one missing object fails the whole download.
      const settled = await Promise.allSettled(
        files.map((f) =>
          s3.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + f }), { abortSignal: signal }),
        ),
      );
      const answers: GetObjectCommandOutput[] = [];
      let failure: AgentFailure | undefined;
      settled.forEach((s, i) => {
        if (s.status === "fulfilled") answers.push(s.value);
        else failure ??= s3Failure(s.reason, `s3://${bucket}/${prefix}${files[i]}`);
      });
      try {
        if (failure) throw failure;
        const total = answers.reduce((sum, a) => sum + (a.ContentLength ?? 0), 0);
        await reserve(total);
        let bytes = 0;
        await Promise.all(
          answers.map(async (a, i) => {
            const body = a.Body as NodeJS.ReadableStream;
            body.on("data", (chunk: Buffer) => {
              bytes += chunk.length;
            });
            await pipeline(body, createWriteStream(join(dir, files[i]!)), { signal });
          }),
        );
        return { bytes, ms: performance.now() - started };
      } catch (err) {
        for (const a of answers) (a.Body as { destroy?: () => void } | undefined)?.destroy?.();
        if (err instanceof AgentFailure) throw err;
        throw s3Failure(err, `s3://${bucket}/${prefix}`);
      }
    },
  };
}

/** Maps an S3 SDK or stream error to the cause the router and the operator need to see. */
function s3Failure(err: unknown, uri: string): AgentFailure {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e.$metadata?.httpStatusCode;
  if (e.name === "NoSuchKey" || e.name === "NotFound" || status === 404) {
    return new AgentFailure(404, "adapter_not_found", `${uri} does not exist`);
  }
  if (status === undefined || status >= 500 || e.name === "TimeoutError" || e.name === "AbortError") {
    return new AgentFailure(
      503,
      "s3_unavailable",
      `object storage is unreachable while fetching ${uri}: ${e.code ?? e.name ?? ""} ${e.message ?? ""}`.trim(),
    );
  }
  return new AgentFailure(
    502,
    "s3_error",
    `object storage refused ${uri}: ${e.name ?? status} ${e.message ?? ""}`.trim(),
  );
}
