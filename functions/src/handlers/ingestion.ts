import { createHash, createHmac, randomBytes } from 'node:crypto';
import {
  FieldValue,
  type DocumentSnapshot,
  type Firestore,
  type Transaction,
} from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import {
  COLLECTIONS,
  DEFAULT_TRAINING_SOURCE,
  STORAGE_PREFIX,
  UNSPECIFIED_DOMAIN,
  findSpecies,
  parseDomain,
  parseSource,
  trainingImagePath,
  trainingThumbnailPath,
  type TrainingSource,
} from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import { ImageRejection, inspectImage, normaliseToJpeg } from '../images/inspect.js';
import { downloadUrl } from '../common/download-url.js';
import { errorSummary } from '../common/errors.js';
import { retryTransient, type RetryOptions } from '../common/transient.js';
import { runContendedTransaction } from '../common/transactions.js';

export interface StorageObjectInfo {
  name: string;
  size: number;
  contentType?: string;
  metadata?: Record<string, string>;
}

export interface IngestionLimits {
  maxBytes: number;
  maxPixels: number;
  minSide: number;
  maxSide: number;
}

export interface IngestionDeps {
  db: Firestore;
  bucket: Bucket;
  limits: IngestionLimits;
  now: () => Date;
}

/**
 * Writes a training JPEG (the normalised image or its thumbnail) with a Firebase download token
 * and returns its download URL: admin pages show it through that URL while storage.rules deny
 * all clients.
 *
 * The token is an HMAC of the object name under the project's secret key (trainingTokenKey):
 * unguessable for anyone without that key (a plain hash of the path could be computed by
 * anyone holding the photo, revealing whether and under which label it is in the training
 * set), yet the same for every writer of the same object, so two concurrent ingestions of one
 * photo (or a retry) never invalidate a URL the other handed out.
 */
export async function saveWithDownloadUrl(
  db: Firestore,
  bucket: Bucket,
  path: string,
  data: Buffer,
): Promise<string> {
  const token = downloadTokenFor(await trainingTokenKey(db), path);
  await bucket.file(path).save(data, {
    resumable: false,
    contentType: 'image/jpeg',
    metadata: {
      cacheControl: 'private, max-age=31536000',
      metadata: { firebaseStorageDownloadTokens: token },
    },
  });
  return downloadUrl(bucket.name, path, token);
}

/** What a training image's record keeps of its stored copies (saveTrainingCopies). */
export interface TrainingCopies {
  imageUrl: string;
  /** thumbnails/training/…: trainingThumbnailPath of the image's path. */
  thumbnailPath: string;
  thumbnailUrl: string;
}

/**
 * Writes a training image's JPEG at `storagePath` and its thumbnail (the inspector's 256 px
 * preview) at the path derived from it, each with its own download token: the admin pages show
 * the thumbnail, not the full photo. Same path, same bytes, same token: a retry rewrites them
 * harmlessly.
 */
export async function saveTrainingCopies(
  db: Firestore,
  bucket: Bucket,
  storagePath: string,
  image: Buffer,
  thumbnail: Buffer,
): Promise<TrainingCopies> {
  const thumbnailPath = trainingThumbnailPath(storagePath);
  if (!thumbnailPath) throw new Error(`not a training image path: ${storagePath}`);
  const [imageUrl, thumbnailUrl] = await Promise.all([
    saveWithDownloadUrl(db, bucket, storagePath, image),
    saveWithDownloadUrl(db, bucket, thumbnailPath, thumbnail),
  ]);
  return { imageUrl, thumbnailPath, thumbnailUrl };
}

/** Deletes a training image's JPEG and its thumbnail (already gone is fine). */
export async function deleteTrainingCopies(bucket: Bucket, storagePath: string): Promise<void> {
  const thumbnailPath = trainingThumbnailPath(storagePath);
  await Promise.all(
    [storagePath, ...(thumbnailPath ? [thumbnailPath] : [])].map((name) =>
      bucket.file(name).delete({ ignoreNotFound: true }),
    ),
  );
}

/** Download token of a training object: HMAC-SHA-256 of its name, UUID-shaped like Firebase's. */
export function downloadTokenFor(key: Buffer, path: string): string {
  const h = createHmac('sha256', key).update(path).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * The project's download-token key: 32 random bytes in `config/downloadTokenKey`
 * (functions-only: firestore.rules deny it to every client), created by whoever needs it
 * first. Read each time, not cached, so every instance always agrees on it.
 */
export async function trainingTokenKey(db: Firestore): Promise<Buffer> {
  const ref = db.collection(COLLECTIONS.config).doc('downloadTokenKey');
  const snap = await ref.get();
  if (snap.exists) return Buffer.from(String(snap.get('key')), 'base64');
  const key = randomBytes(32);
  try {
    await ref.create({ key: key.toString('base64') });
    return key;
  } catch (err) {
    // ALREADY_EXISTS: another instance created it first; use theirs.
    if ((err as { code?: unknown } | null)?.code !== 6) throw err;
    return Buffer.from(String((await ref.get()).get('key')), 'base64');
  }
}

export type IngestionStatus = 'accepted' | 'duplicate' | 'conflict' | 'rejected';

/** An accepted observation's upload: whose photo it is, who accepted it, under which review. */
export interface ObservationProvenance {
  observationId: string;
  ownerUid: string;
  reviewerUid: string;
  candidateId: string;
}

/**
 * Where an upload comes from, read from its custom metadata (set by the functions only:
 * createUploadUrls, import-dataset, acceptReviewCandidate; clients cannot write the bucket).
 * An observation must name its review candidate, which ingestion checks is still accepted.
 */
export function provenanceOf(
  metadata: Record<string, string> | undefined,
): { source: TrainingSource; observation?: ObservationProvenance } | { invalid: string } {
  const source = parseSource(metadata?.source) ?? DEFAULT_TRAINING_SOURCE;
  if (source !== 'observation') return { source };
  const ids = {
    observationId: metadata?.observationId ?? '',
    ownerUid: metadata?.ownerUid ?? '',
    reviewerUid: metadata?.reviewerUid ?? '',
    candidateId: metadata?.candidateId ?? '',
  };
  const missing = Object.entries(ids).find(([, v]) => !v || v.length > 128 || v.includes('/'));
  if (missing) return { invalid: `Provenance d’observation incomplète (${missing[0]}).` };
  return { source, observation: ids };
}

/**
 * An observation's photo enters the training set only while its review candidate still says
 * « accepted under this label »: a user who deleted the observation or withdrew consent in the
 * meantime has removed the candidate, and then nothing of the photo may be recorded.
 */
function stillAccepted(
  candidate: DocumentSnapshot | undefined,
  observation: ObservationProvenance,
  speciesId: string,
): boolean {
  return (
    candidate?.exists === true &&
    candidate.get('status') === 'accepted' &&
    candidate.get('label') === speciesId &&
    candidate.get('observationId') === observation.observationId &&
    candidate.get('ownerUid') === observation.ownerUid
  );
}

export interface IngestionOutcome {
  status: IngestionStatus | 'skipped';
  uploadId?: string;
  trainingImageId?: string;
  reason?: string;
}

/** incoming/{speciesId}/{batchId}/{fileName} (batch optional). */
export function parseIncomingPath(
  name: string,
): { speciesId: string; batchId: string; fileName: string } | undefined {
  if (!name.startsWith(STORAGE_PREFIX.incoming)) return undefined;
  const parts = name.slice(STORAGE_PREFIX.incoming.length).split('/');
  if (parts.length === 2 && parts[0] && parts[1]) {
    return { speciesId: parts[0], batchId: 'sans-lot', fileName: parts[1] };
  }
  if (parts.length === 3 && parts[0] && parts[1] && parts[2]) {
    return { speciesId: parts[0], batchId: parts[1], fileName: parts[2] };
  }
  return undefined;
}

/** A file name safe to use as the last segment of a Storage path (never trusted as a path). */
export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .normalize('NFKC')
    .replace(/[^\p{L}\p{N}._-]+/gu, '_')
    .replace(/^\.+/, '')
    .slice(0, 120);
  return cleaned || 'fichier';
}

/** The French name of a species id, for messages (the id itself when the catalogue lacks it). */
function speciesLabel(id: string): string {
  return findSpecies(id)?.nameFr ?? id;
}

/** Deterministic id of one upload: the same object name always maps to the same record. */
export function uploadIdFor(objectName: string): string {
  return createHash('sha256').update(objectName).digest('hex').slice(0, 32);
}

/**
 * Ingests one admin upload into the training set. Idempotent: every output name is derived
 * from the object name or the content hash, the per-upload record is created in a
 * transaction, and a replayed event finds that record and stops. Its own outputs
 * (training/, thumbnails/, rejected/) are never under incoming/, so they are skipped.
 */
export async function ingestUpload(
  object: StorageObjectInfo,
  deps: IngestionDeps,
): Promise<IngestionOutcome> {
  if (!object.name.startsWith(STORAGE_PREFIX.incoming)) {
    return { status: 'skipped', reason: 'not-an-incoming-upload' };
  }
  const parsed = parseIncomingPath(object.name);

  const uploadId = uploadIdFor(object.name);
  const uploadRef = deps.db.collection(COLLECTIONS.uploads).doc(uploadId);
  const previous = await uploadRef.get();
  if (previous.exists) {
    // Replayed event: the work is done; make sure the incoming object is gone.
    await deleteQuietly(deps.bucket, object.name);
    logger.info('ingestion.replayed', { uploadId, objectName: object.name });
    return { status: previous.get('status') as IngestionStatus, uploadId };
  }

  const provenance = provenanceOf(object.metadata);
  const observation = 'observation' in provenance ? provenance.observation : undefined;
  const source = 'source' in provenance ? provenance.source : DEFAULT_TRAINING_SOURCE;
  const base = {
    objectName: object.name,
    fileName: safeFileName(parsed?.fileName ?? object.name),
    speciesId: parsed?.speciesId ?? null,
    batchId: parsed?.batchId ?? null,
    uploaderUid: object.metadata?.uploaderUid ?? null,
    source,
    // Keyed by the owner, so erasing the observation or the account finds this record.
    ...(observation
      ? {
          observationId: observation.observationId,
          ownerUid: observation.ownerUid,
          candidateId: observation.candidateId,
        }
      : {}),
  };
  const sourceGroup = object.metadata?.sourceGroup?.slice(0, 200);
  // Kind of photo (crop / field / a dataset's name), kept so metrics can be split per domain.
  const domain = parseDomain(object.metadata?.domain) ?? UNSPECIFIED_DOMAIN;
  const candidateRef = observation
    ? deps.db.collection(COLLECTIONS.reviewCandidates).doc(observation.candidateId)
    : undefined;

  /** The observation left the review (deleted, consent withdrawn): nothing of it is kept. */
  const withdrawn = async (): Promise<IngestionOutcome> => {
    await deleteQuietly(deps.bucket, object.name);
    logger.info('ingestion.withdrawn', { uploadId, objectName: object.name });
    return { status: 'skipped', uploadId, reason: 'observation-withdrawn' };
  };
  if (observation && parsed) {
    if (!stillAccepted(await candidateRef?.get(), observation, parsed.speciesId)) {
      return withdrawn();
    }
  }

  /** What an accepted observation's review learns of its ingestion, in the same transaction. */
  const noteOnCandidate = (
    tx: Transaction,
    outcome: { status: IngestionStatus; trainingImageId?: string; reason?: string },
  ): void => {
    if (!candidateRef) return;
    tx.update(candidateRef, {
      ingestion: { ...outcome, uploadId, at: deps.now() },
    });
  };

  const reject = async (reason: string, code: string): Promise<IngestionOutcome> => {
    // Keep the original bytes for the admin page, stored as opaque data so it is never
    // rendered or executed from the bucket; but never a copy of a user's photo, which must
    // stay where erasure finds it.
    const rejectedPath = observation
      ? null
      : `${STORAGE_PREFIX.rejected}${uploadId}/${base.fileName}`;
    if (rejectedPath) {
      await deps.bucket
        .file(object.name)
        .copy(deps.bucket.file(rejectedPath), {
          contentType: 'application/octet-stream',
          metadata: { contentDisposition: 'attachment' },
        })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
    const record = {
      ...base,
      status: 'rejected',
      reason,
      reasonCode: code,
      rejectedPath,
      processedAt: deps.now(),
    };
    if (observation && candidateRef && parsed) {
      const recorded = await runContendedTransaction(deps.db, async (tx) => {
        if (!stillAccepted(await tx.get(candidateRef), observation, parsed.speciesId)) return false;
        tx.set(uploadRef, record);
        noteOnCandidate(tx, { status: 'rejected', reason });
        return true;
      });
      if (!recorded) return withdrawn();
    } else {
      await uploadRef.set(record);
    }
    await deleteQuietly(deps.bucket, object.name);
    logger.warn('ingestion.rejected', { uploadId, objectName: object.name, code, reason });
    return { status: 'rejected', uploadId, reason };
  };

  if ('invalid' in provenance) return reject(provenance.invalid, 'invalid_provenance');
  if (!parsed) {
    // Anything else dropped under incoming/ still ends with a record and leaves incoming/.
    return reject(
      'Emplacement inattendu : déposez les photos sous incoming/{espèce}/{lot}/{fichier}.',
      'unexpected_path',
    );
  }
  const species = findSpecies(parsed.speciesId);
  if (!species) {
    return reject(`Espèce inconnue : « ${parsed.speciesId} ».`, 'unknown_species');
  }
  if (object.size > deps.limits.maxBytes) {
    const mb = Math.round(deps.limits.maxBytes / (1024 * 1024));
    return reject(`Le fichier dépasse la taille maximale de ${mb} Mo.`, 'too_large');
  }

  let original: Buffer;
  try {
    [original] = await deps.bucket.file(object.name).download();
  } catch (err) {
    if (isNotFound(err)) {
      logger.info('ingestion.gone', { uploadId, objectName: object.name });
      return { status: 'skipped', uploadId, reason: 'object-gone' };
    }
    throw err;
  }

  let normalised: { data: Buffer; width: number; height: number };
  let thumbnail: Buffer;
  try {
    // The inspector's preview (≤ 256 px) is the thumbnail the admin pages show.
    ({ preview: thumbnail } = await inspectImage(original, deps.limits));
    normalised = await normaliseToJpeg(original, {
      maxSide: deps.limits.maxSide,
      maxPixels: deps.limits.maxPixels,
    });
  } catch (err) {
    if (err instanceof ImageRejection) return reject(err.messageFr, err.code);
    throw err;
  }

  // Content hash of the uploaded bytes: the same photo uploaded twice is one training image.
  const hash = createHash('sha256').update(original).digest('hex');
  const imageRef = deps.db.collection(COLLECTIONS.trainingImages).doc(hash);
  const existing = await imageRef.get();
  const existingLabel = existing.exists ? (existing.get('speciesId') as string) : undefined;

  const storagePath = trainingImagePath(species.id, hash);
  const saveCopies = () =>
    saveTrainingCopies(deps.db, deps.bucket, storagePath, normalised.data, thumbnail);
  let copies: TrainingCopies | undefined;
  if (!existing.exists) {
    // Storage first: a crash after this leaves at worst unreferenced files that the retry
    // overwrites with identical bytes, never a record pointing at nothing.
    copies = await saveCopies();
  }

  // Contended when one event is delivered several times at once, or the same photo arrives
  // under several labels at once. Both documents are read in one request (getAll): two
  // parallel tx.get() calls share a lazily started transaction, and when the backend aborts
  // it under contention the second read, or the client's retry that names the aborted
  // transaction, ran on a closed transaction ("Transaction is invalid or closed", not
  // retried). runContendedTransaction starts every attempt afresh, with jittered backoff.
  const transaction = await runContendedTransaction(deps.db, async (tx) => {
    const [uploadSnap, imageSnap, candidateSnap] = await tx.getAll(
      uploadRef,
      imageRef,
      ...(candidateRef ? [candidateRef] : []),
    );
    const pointedAt = (imageSnap?.get('storagePath') as string | undefined) ?? storagePath;
    if (uploadSnap?.exists) {
      return { status: uploadSnap.get('status') as IngestionStatus, imagePath: pointedAt };
    }
    if (!uploadSnap || !imageSnap) throw new Error('getAll returned fewer documents than asked');
    if (observation && !stillAccepted(candidateSnap, observation, species.id)) {
      return {
        status: 'withdrawn' as const,
        imagePath: pointedAt,
        imageRecorded: imageSnap.exists,
      };
    }
    if (!imageSnap.exists && copies === undefined) {
      // Deleted since our first read, so we did not write its objects: write them now (the same
      // bytes at the same paths, so a retried attempt rewrites them harmlessly).
      copies = await saveCopies();
    }
    const now = deps.now();
    let status: IngestionStatus;
    if (!imageSnap.exists) {
      status = 'accepted';
      tx.create(imageRef, {
        speciesId: species.id,
        storagePath,
        imageUrl: copies?.imageUrl,
        thumbnailPath: copies?.thumbnailPath,
        thumbnailUrl: copies?.thumbnailUrl,
        width: normalised.width,
        height: normalised.height,
        bytes: normalised.data.length,
        // Hash of the stored JPEG: the trainer finds cached embeddings without downloading it.
        storedSha256: createHash('sha256').update(normalised.data).digest('hex'),
        originalBytes: original.length,
        sourceName: base.fileName,
        uploaderUid: base.uploaderUid,
        batchId: base.batchId,
        uploadId,
        // Source photo group (e.g. a dataset manifest's group), kept for grouped evaluation splits.
        ...(sourceGroup ? { group: sourceGroup } : {}),
        domain,
        source,
        // Provenance of a hiker's photo: erasing the observation or the account finds it here.
        ...(observation
          ? {
              observationId: observation.observationId,
              ownerUid: observation.ownerUid,
              reviewerUid: observation.reviewerUid,
              candidateId: observation.candidateId,
            }
          : {}),
        createdAt: now,
      });
    } else if (imageSnap.get('speciesId') === species.id) {
      status = 'duplicate';
      tx.update(imageRef, { duplicateUploads: FieldValue.increment(1) });
    } else {
      status = 'conflict';
      tx.update(imageRef, { conflictingLabels: FieldValue.arrayUnion(species.id) });
    }
    tx.create(uploadRef, {
      ...base,
      status,
      trainingImageId: hash,
      ...(status === 'conflict'
        ? {
            reason: `Photo déjà présente sous l’espèce « ${speciesLabel(String(imageSnap.get('speciesId')))} » : étiquettes en conflit.`,
          }
        : {}),
      ...(status === 'duplicate'
        ? { reason: 'Photo déjà présente dans le jeu d’entraînement.' }
        : {}),
      processedAt: now,
    });
    noteOnCandidate(tx, { status, trainingImageId: hash });
    return { status, imagePath: imageSnap.exists ? pointedAt : storagePath };
  });

  if (transaction.status === 'withdrawn') {
    // Our training objects, unless a record of another upload points at them.
    if (copies !== undefined && !('imageRecorded' in transaction && transaction.imageRecorded)) {
      await deleteCopiesQuietly(deps.bucket, storagePath);
    }
    return withdrawn();
  }
  const { status: outcome, imagePath } = transaction;
  if (copies !== undefined && imagePath !== storagePath) {
    // We wrote training/{our label}/… (and its thumbnail) but the photo is recorded under
    // another label (the same photo uploaded under several labels at once): ours would be
    // orphans.
    await deleteCopiesQuietly(deps.bucket, storagePath);
  }
  await deleteQuietly(deps.bucket, object.name);
  logger.info('ingestion.done', {
    uploadId,
    objectName: object.name,
    status: outcome,
    trainingImageId: hash,
    speciesId: species.id,
    previousLabel: existingLabel,
  });
  return { status: outcome, uploadId, trainingImageId: hash };
}

/** In-process retries before the platform's own event redelivery takes over. */
export const INGESTION_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 400 };

/**
 * ingestUpload, retried in-process when Firestore or Storage hiccups (a reset connection, an
 * unavailable backend). Safe because ingestUpload is idempotent; a permanent failure, or a
 * transient one that outlasts the retries, is rethrown for the platform to redeliver.
 */
export function ingestUploadRetrying(
  object: StorageObjectInfo,
  deps: IngestionDeps,
  retry: RetryOptions = INGESTION_RETRY,
): Promise<IngestionOutcome> {
  return retryTransient(() => ingestUpload(object, deps), {
    ...retry,
    onRetry: (attempt, err) =>
      logger.warn('ingestion.retrying', { objectName: object.name, attempt, ...errorSummary(err) }),
  });
}

/**
 * Safety net for uploads whose event never completed (retries exhausted, an instance killed
 * mid-event, an upload made while the function was being redeployed): ingests whatever has
 * been waiting under incoming/ for longer than `olderThanMs`, one object at a time so memory
 * stays bounded. Pages through the whole prefix (young objects cannot starve old ones) until
 * done or `budgetMs` is spent; the next run goes on. Racing a late event is harmless:
 * ingestion is idempotent.
 */
export async function reingestStaleUploads(
  deps: IngestionDeps,
  options: { olderThanMs: number; pageSize?: number; budgetMs?: number },
): Promise<{ scanned: number; outcomes: Record<string, number> }> {
  const started = Date.now();
  const outcomes: Record<string, number> = {};
  const cutoff = deps.now().getTime() - options.olderThanMs;
  let scanned = 0;
  let pageToken: string | undefined;
  do {
    const [files, next] = await deps.bucket.getFiles({
      prefix: STORAGE_PREFIX.incoming,
      maxResults: options.pageSize ?? 500,
      autoPaginate: false,
      ...(pageToken ? { pageToken } : {}),
    });
    pageToken = (next as { pageToken?: string } | null)?.pageToken;
    scanned += files.length;
    for (const file of files) {
      const created = Date.parse(String(file.metadata.timeCreated ?? ''));
      if (!(created <= cutoff)) continue;
      const outcome = await ingestUploadRetrying(
        {
          name: file.name,
          size: Number(file.metadata.size ?? 0),
          contentType: file.metadata.contentType,
          metadata: (file.metadata.metadata ?? {}) as Record<string, string>,
        },
        deps,
      );
      outcomes[outcome.status] = (outcomes[outcome.status] ?? 0) + 1;
      if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs) {
        pageToken = undefined;
        break;
      }
    }
  } while (pageToken);
  if (Object.keys(outcomes).length) logger.warn('ingestion.swept', { outcomes });
  return { scanned, outcomes };
}

async function deleteQuietly(bucket: Bucket, name: string): Promise<void> {
  try {
    await bucket.file(name).delete();
  } catch (err) {
    if (!isNotFound(err)) logger.warn('ingestion.delete_failed', { name, ...errorSummary(err) });
  }
}

async function deleteCopiesQuietly(bucket: Bucket, storagePath: string): Promise<void> {
  const thumbnailPath = trainingThumbnailPath(storagePath);
  await Promise.all(
    [storagePath, ...(thumbnailPath ? [thumbnailPath] : [])].map((name) =>
      deleteQuietly(bucket, name),
    ),
  );
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 404;
}
