import { randomUUID } from 'node:crypto';
import { STORAGE_PREFIX } from '@wildlens/shared';
import type { Bucket } from '../../firebase.js';
import { fail } from '../../common/errors.js';
import { createUploadUrlsRequest, parseInput } from '../../api/schemas.js';

export { MAX_FILES_PER_BATCH } from '../../api/schemas.js';
import { safeFileName, uploadIdFor } from '../ingestion.js';

export const ACCEPTED_UPLOAD_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;

export interface UploadUrlsDeps {
  bucket: Bucket;
  maxBytes: number;
  newBatchId?: () => string;
  /** Browser origin allowed to PUT to the session URI (CORS), when the caller sent one. */
  origin?: string;
}

export interface UploadUrlsResult {
  batchId: string;
  uploads: { name: string; objectName: string; uploadId: string; uploadUrl: string }[];
}

interface FileRequest {
  name: string;
  size: number;
  contentType: string;
}

/** Per-file reasons, in French, for files the request declares as unacceptable. */
export function fileProblems(files: FileRequest[], maxBytes: number): string[] {
  const problems: string[] = [];
  const mb = Math.round(maxBytes / (1024 * 1024));
  for (const f of files) {
    if (!(ACCEPTED_UPLOAD_TYPES as readonly string[]).includes(f.contentType))
      problems.push(`${f.name} : type « ${f.contentType} » refusé (JPEG, PNG ou WebP).`);
    else if (f.size > maxBytes) problems.push(`${f.name} : dépasse ${mb} Mo.`);
    else if (f.size <= 0) problems.push(`${f.name} : fichier vide.`);
  }
  return problems;
}

/** Last path segments, deduplicated within a batch (photo.jpg, photo-2.jpg, …). */
export function uniqueSafeNames(names: string[]): string[] {
  const used = new Set<string>();
  return names.map((name) => {
    const safe = safeFileName(name);
    let candidate = safe;
    for (let n = 2; used.has(candidate); n++) {
      const dot = safe.lastIndexOf('.');
      candidate = dot > 0 ? `${safe.slice(0, dot)}-${n}${safe.slice(dot)}` : `${safe}-${n}`;
    }
    used.add(candidate);
    return candidate;
  });
}

/**
 * Mints one resumable upload session per file under incoming/{speciesId}/{batchId}/: the
 * browser PUTs the bytes straight to Cloud Storage (no credentials, no function in the data
 * path), and the ingestion trigger takes over once the object is finalised.
 */
export async function createUploadUrls(
  uid: string,
  data: unknown,
  deps: UploadUrlsDeps,
): Promise<UploadUrlsResult> {
  const { speciesId, files, domain } = parseInput(createUploadUrlsRequest, data);
  const problems = fileProblems(files, deps.maxBytes);
  if (problems.length)
    fail('invalid-argument', `Fichiers refusés : ${problems.join(' ')}`, { problems });
  const batchId = (deps.newBatchId ?? (() => `lot-${randomUUID().slice(0, 12)}`))();
  const names = uniqueSafeNames(files.map((f) => f.name));
  const uploads = await Promise.all(
    files.map(async (file, i) => {
      const objectName = `${STORAGE_PREFIX.incoming}${speciesId}/${batchId}/${names[i] as string}`;
      const [uploadUrl] = await deps.bucket.file(objectName).createResumableUpload({
        metadata: {
          contentType: file.contentType,
          metadata: {
            uploaderUid: uid,
            batchId,
            originalName: file.name.slice(0, 200),
            // Read by the ingestion (training image `domain`); absent: « non précisé ».
            ...(domain ? { domain } : {}),
          },
        },
        ...(deps.origin ? { origin: deps.origin } : {}),
      });
      return { name: file.name, objectName, uploadId: uploadIdFor(objectName), uploadUrl };
    }),
  );
  return { batchId, uploads };
}
