/** The part of a Cloud Storage bucket (Admin SDK) that reading a file needs. */
export interface DownloadBucket {
  file(name: string): { download(): Promise<[Buffer]> };
}

/**
 * Reads files under `storagePrefix` of a bucket, never outside it: how the functions (serving)
 * and the trainer (benchmarking the active model) read a model directory `models/{version}/`.
 */
export function storagePrefixReader(bucket: DownloadBucket, storagePrefix: string) {
  return {
    async readFile(relPath: string): Promise<Uint8Array> {
      if (relPath.startsWith('/') || relPath.split('/').includes('..')) {
        throw new Error(`model file path escapes its prefix: ${relPath}`);
      }
      const [data] = await bucket.file(`${storagePrefix}${relPath}`).download();
      return data;
    },
  };
}
