import { S3Client } from "@aws-sdk/client-s3";
import type { ServiceConfig } from "./config.ts";

export function createS3Client(cfg: ServiceConfig): S3Client {
  return new S3Client({
    endpoint: cfg.S3_ENDPOINT,
    region: cfg.S3_REGION,
    forcePathStyle: cfg.S3_FORCE_PATH_STYLE,
    credentials: { accessKeyId: cfg.S3_ACCESS_KEY_ID, secretAccessKey: cfg.S3_SECRET_ACCESS_KEY },
    // Only send/verify the newer CRC checksums when an operation requires them: S3-compatible
    // servers (s3rver, older MinIO) reject the aws-chunked uploads the SDK otherwise sends.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** Splits `s3://bucket/key/prefix` into its parts; returns undefined for anything else. */
export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*)$/.exec(uri);
  return m ? { bucket: m[1]!, key: m[2]! } : undefined;
}
