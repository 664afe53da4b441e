/**
 * The data-protection invariants (issue 20), checked over everything Firestore and Storage
 * hold, after any sequence of calls, races and erasures:
 * - no Storage object without its record (a user's photo without its observation, a training
 *   JPEG or thumbnail without its training image, a rejected upload without its upload record);
 * - no record without its Storage object (an observation without one of its photos or
 *   thumbnails, a training image without its JPEG or without the thumbnail it names, or naming
 *   another than its JPEG's, a rejection record without its copy), nor with a download URL its
 *   object does not honour (a training image ingested before thumbnails may have none);
 * - no download token an object honours that its record's URL does not hold: a URL handed out
 *   before (to a reviewer, under a guessable legacy token) whose access had to end;
 * - nothing derived from an erased photo: no review candidate, training image, upload record,
 *   queued copy under incoming/ or cached embedding of a photo whose observation is gone or no
 *   longer shared for training (or, for embeddings, whose training image is gone: only the
 *   trainer's projection bases, fitted statistics like a model, and the embeddings of its
 *   synthetic not-a-footprint pictures hold no training image);
 * - nothing of a deleted account: no observation, photo, candidate, training image, upload,
 *   queued copy, quota ticket or users/ document of it, and its uid no longer names the author
 *   of an admin action. Deleted accounts are those with an erasure marker, plus any the caller
 *   names.
 * Each violation says which rule, where, and whose data it is. The checker reads everything, so
 * it is meant for the emulators' test data (each e2e file starts from an empty suite).
 */
import type { Firestore, QueryDocumentSnapshot } from 'firebase-admin/firestore';
import { createHash } from 'node:crypto';
import { generateSyntheticNegatives } from '@wildlens/model';
import { COLLECTIONS, STORAGE_PREFIX, trainingThumbnailPath } from '@wildlens/shared';
import { DEFAULT_TRAINER_OPTIONS } from '../../trainer/src/run.js';
import { BASES_PREFIX } from '../../trainer/src/storage-embedding-cache.js';
import type { Bucket } from '../../functions/src/firebase.js';
import { downloadTokenOf, objectDownloadTokens } from '../../functions/src/common/download-url.js';
import { ACTOR_FIELDS } from '../../functions/src/handlers/erasure.js';
import { observationPhotoUrls } from '../../functions/src/handlers/observation-actions.js';
import {
  ERASED_ACCOUNTS_COLLECTION,
  erasureMarkerId,
} from '../../functions/src/handlers/erasure-marker.js';

export type InvariantRule =
  | 'object-without-record'
  | 'record-without-object'
  | 'erased-photo-derivative'
  | 'deleted-account-data'
  | 'unrecorded-download-token';

export interface Violation {
  rule: InvariantRule;
  /** `firestore:<path>` or `storage:<object name>`. */
  where: string;
  /** The account whose data it is, when known. */
  uid?: string;
  detail: string;
}

export interface InvariantOptions {
  /** Accounts to treat as deleted besides those with an erasure marker. */
  deletedUids?: string[];
}

interface StoredObject {
  name: string;
  metadata: Record<string, string>;
  /** The download tokens it honours. */
  tokens: string[];
}

async function allObjects(bucket: Bucket): Promise<StoredObject[]> {
  const [files] = await bucket.getFiles();
  return files.map((f) => {
    const metadata = (f.metadata.metadata ?? {}) as Record<string, string>;
    return { name: f.name, metadata, tokens: objectDownloadTokens(metadata) };
  });
}

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 ? value : undefined;

/**
 * Hashes of the synthetic pictures a training run embeds (and caches) to measure its
 * not_a_footprint gate: @wildlens/model's trainFootprintModel, 36 of them, seed + 100.
 */
let syntheticHashes: Promise<Set<string>> | undefined;
function syntheticNegativeHashes(): Promise<Set<string>> {
  syntheticHashes ??= generateSyntheticNegatives(36, DEFAULT_TRAINER_OPTIONS.seed + 100).then(
    (list) => new Set(list.map((n) => createHash('sha256').update(n.image).digest('hex'))),
  );
  return syntheticHashes;
}

/** Every violation of the invariants in the whole emulator state (empty when all hold). */
export async function dataInvariantViolations(
  env: { db: Firestore; bucket: Bucket },
  options: InvariantOptions = {},
): Promise<Violation[]> {
  const { db, bucket } = env;
  const [objects, observations, trainingImages, candidates, uploads, markers, userDocs, quotaDocs] =
    await Promise.all([
      allObjects(bucket),
      db.collectionGroup(COLLECTIONS.observations).get(),
      db.collection(COLLECTIONS.trainingImages).get(),
      db.collection(COLLECTIONS.reviewCandidates).get(),
      db.collection(COLLECTIONS.uploads).get(),
      db.collection(ERASED_ACCOUNTS_COLLECTION).get(),
      db.collection(COLLECTIONS.users).listDocuments(),
      db.collection(COLLECTIONS.rateLimits).listDocuments(),
    ]);
  const trainingRuns = await db.collection(COLLECTIONS.trainingRuns).get();
  const violations: Violation[] = [];
  const add = (v: Violation) => violations.push(v);

  const objectsByName = new Map(objects.map((o) => [o.name, o]));
  const objectNames = new Set(objectsByName.keys());
  /** Object name → the token its record's URL holds (the only one it may honour). */
  const recordedTokens = new Map<string, string>();
  /** A record's URL opens its object; that URL's token is then the object's only key. */
  const urlOpens = (where: string, uid: string | undefined, name: string, url: unknown) => {
    const token = downloadTokenOf(url);
    if (!token) return;
    recordedTokens.set(name, token);
    const object = objectsByName.get(name);
    if (object && !object.tokens.includes(token)) {
      add({
        rule: 'record-without-object',
        where,
        uid,
        detail: `its URL's token does not open ${name}`,
      });
    }
  };
  const markerIds = new Set(markers.docs.map((m) => m.id));
  const explicitlyDeleted = new Set(options.deletedUids ?? []);
  const deleted = (uid: string | undefined): uid is string =>
    uid !== undefined && (explicitlyDeleted.has(uid) || markerIds.has(erasureMarkerId(uid)));

  /** users/{uid}/observations/{id} records by path, with what they point at. */
  const records = new Map<string, QueryDocumentSnapshot>();
  for (const doc of observations.docs) {
    if (doc.ref.parent.parent?.parent.id === COLLECTIONS.users) records.set(doc.ref.path, doc);
  }
  const observationPath = (uid: string, observationId: string) =>
    `${COLLECTIONS.users}/${uid}/${COLLECTIONS.observations}/${observationId}`;

  // Observations: their photos exist; nothing of a deleted account.
  for (const [path, doc] of records) {
    const uid = doc.ref.parent.parent?.id;
    for (const field of ['photoPath', 'thumbnailPath']) {
      if (!str(doc.get(field))) {
        add({
          rule: 'record-without-object',
          where: `firestore:${path}`,
          uid,
          detail: `${field} (absent)`,
        });
      }
    }
    // Every photo of the observation (the first one's fields, and each entry of `photos`).
    for (const { path: name, url } of observationPhotoUrls(doc.data())) {
      if (!objectNames.has(name)) {
        add({
          rule: 'record-without-object',
          where: `firestore:${path}`,
          uid,
          detail: `photo ${name} does not exist`,
        });
      } else {
        urlOpens(`firestore:${path}`, uid, name, url);
      }
    }
    if (deleted(uid)) {
      add({
        rule: 'deleted-account-data',
        where: `firestore:${path}`,
        uid,
        detail: 'observation of a deleted account',
      });
    }
  }

  // Training images: their JPEG (and thumbnail) exist, their source observation still shares them.
  const trainingPaths = new Set<string>();
  const thumbnailPaths = new Set<string>();
  const storedHashes = new Set<string>();
  for (const doc of trainingImages.docs) {
    const storagePath = str(doc.get('storagePath'));
    if (storagePath) trainingPaths.add(storagePath);
    const sha = str(doc.get('storedSha256'));
    if (sha) storedHashes.add(sha);
    if (!storagePath || !objectNames.has(storagePath)) {
      add({
        rule: 'record-without-object',
        where: `firestore:${doc.ref.path}`,
        uid: str(doc.get('ownerUid')),
        detail: `storagePath ${storagePath ?? '(absent)'} does not exist`,
      });
    } else {
      urlOpens(
        `firestore:${doc.ref.path}`,
        str(doc.get('ownerUid')),
        storagePath,
        doc.get('imageUrl'),
      );
    }
    const thumbnailPath = str(doc.get('thumbnailPath'));
    const thumbnailProblem = (detail: string) =>
      add({
        rule: 'record-without-object',
        where: `firestore:${doc.ref.path}`,
        uid: str(doc.get('ownerUid')),
        detail,
      });
    if (!thumbnailPath) {
      if (doc.get('thumbnailUrl') !== undefined) thumbnailProblem('thumbnailUrl without its path');
    } else {
      thumbnailPaths.add(thumbnailPath);
      if (thumbnailPath !== (storagePath && trainingThumbnailPath(storagePath))) {
        thumbnailProblem(
          `thumbnailPath ${thumbnailPath} is not the thumbnail of ${storagePath ?? '(absent)'}`,
        );
      }
      if (!objectNames.has(thumbnailPath)) {
        thumbnailProblem(`thumbnailPath ${thumbnailPath} does not exist`);
      } else {
        urlOpens(
          `firestore:${doc.ref.path}`,
          str(doc.get('ownerUid')),
          thumbnailPath,
          doc.get('thumbnailUrl'),
        );
      }
    }
  }

  /** A document or object derived from a user's observation photo. */
  const derivedFromObservation = (
    where: string,
    uid: string | undefined,
    observationId: string | undefined,
    what: string,
  ) => {
    if (deleted(uid)) {
      add({ rule: 'deleted-account-data', where, uid, detail: `${what} of a deleted account` });
      return;
    }
    const source =
      uid && observationId ? records.get(observationPath(uid, observationId)) : undefined;
    if (!source) {
      add({
        rule: 'erased-photo-derivative',
        where,
        uid,
        detail: `${what} of observation ${observationId ?? '(absent)'}, which no longer exists`,
      });
    } else if (source.get('shareForTraining') !== true) {
      add({
        rule: 'erased-photo-derivative',
        where,
        uid,
        detail: `${what} of observation ${observationId}, no longer shared for training`,
      });
    }
  };
  for (const doc of trainingImages.docs) {
    if (doc.get('source') === 'observation' || doc.get('ownerUid') !== undefined) {
      derivedFromObservation(
        `firestore:${doc.ref.path}`,
        str(doc.get('ownerUid')),
        str(doc.get('observationId')),
        'training image',
      );
    }
  }
  for (const doc of candidates.docs) {
    derivedFromObservation(
      `firestore:${doc.ref.path}`,
      str(doc.get('ownerUid')),
      str(doc.get('observationId')),
      'review candidate',
    );
  }
  const rejectedPaths = new Set<string>();
  for (const doc of uploads.docs) {
    const rejectedPath = str(doc.get('rejectedPath'));
    if (rejectedPath) {
      rejectedPaths.add(rejectedPath);
      if (!objectNames.has(rejectedPath)) {
        add({
          rule: 'record-without-object',
          where: `firestore:${doc.ref.path}`,
          detail: `rejectedPath ${rejectedPath} does not exist`,
        });
      }
    }
    if (doc.get('ownerUid') !== undefined) {
      derivedFromObservation(
        `firestore:${doc.ref.path}`,
        str(doc.get('ownerUid')),
        str(doc.get('observationId')),
        'upload record',
      );
    }
  }

  // Storage objects: each has its record, and honours no token but the one its record holds.
  for (const object of objects) {
    const where = `storage:${object.name}`;
    const recorded = recordedTokens.get(object.name);
    const unrecorded = object.tokens.filter((t) => t !== recorded);
    if (
      unrecorded.length &&
      (object.name.startsWith(STORAGE_PREFIX.users) ||
        object.name.startsWith(STORAGE_PREFIX.training) ||
        object.name.startsWith(STORAGE_PREFIX.trainingThumbnails))
    ) {
      add({
        rule: 'unrecorded-download-token',
        where,
        uid: object.metadata.ownerUid,
        detail: `honours ${unrecorded.length} token(s) no record's URL holds`,
      });
    }
    if (object.name.startsWith(STORAGE_PREFIX.users)) {
      // users/{uid}/observations/{id}/{file}
      const [, uid, kind, observationId] = object.name.split('/');
      const record =
        uid && kind === COLLECTIONS.observations && observationId
          ? records.get(observationPath(uid, observationId))
          : undefined;
      const named =
        record && observationPhotoUrls(record.data()).some(({ path }) => path === object.name);
      if (deleted(uid)) {
        add({ rule: 'deleted-account-data', where, uid, detail: 'object of a deleted account' });
      } else if (!named) {
        add({
          rule: 'object-without-record',
          where,
          uid,
          detail: 'no observation record points at this object',
        });
      }
    } else if (object.name.startsWith(STORAGE_PREFIX.training)) {
      if (!trainingPaths.has(object.name)) {
        add({
          rule: 'object-without-record',
          where,
          detail: 'no training image points at this object',
        });
      }
    } else if (object.name.startsWith(STORAGE_PREFIX.trainingThumbnails)) {
      if (!thumbnailPaths.has(object.name)) {
        add({
          rule: 'object-without-record',
          where,
          detail: 'no training image names this thumbnail',
        });
      }
    } else if (object.name.startsWith(STORAGE_PREFIX.rejected)) {
      if (!rejectedPaths.has(object.name)) {
        add({ rule: 'object-without-record', where, detail: 'no upload record points at it' });
      }
    } else if (
      object.name.startsWith(STORAGE_PREFIX.embeddings) &&
      !object.name.startsWith(BASES_PREFIX)
    ) {
      const sha = /\/([0-9a-f]{64})\.bin$/.exec(object.name)?.[1];
      if (!sha || (!storedHashes.has(sha) && !(await syntheticNegativeHashes()).has(sha))) {
        add({
          rule: 'erased-photo-derivative',
          where,
          detail: 'cached embedding of a JPEG no training image holds',
        });
      }
    } else if (object.name.startsWith(STORAGE_PREFIX.incoming) && object.metadata.ownerUid) {
      // A hiker's photo queued for ingestion: only while its candidate is accepted.
      const candidate = candidates.docs.find((c) => c.id === object.metadata.candidateId);
      if (deleted(object.metadata.ownerUid)) {
        add({
          rule: 'deleted-account-data',
          where,
          uid: object.metadata.ownerUid,
          detail: 'queued copy of a deleted account’s photo',
        });
      } else if (candidate?.get('status') !== 'accepted') {
        add({
          rule: 'erased-photo-derivative',
          where,
          uid: object.metadata.ownerUid,
          detail: 'queued copy of a photo whose review candidate is gone or not accepted',
        });
      }
    }
  }

  // Anything else keyed by a deleted account: users/{uid}, quota tickets, actor fields.
  for (const ref of [...userDocs, ...quotaDocs]) {
    if (deleted(ref.id)) {
      add({
        rule: 'deleted-account-data',
        where: `firestore:${ref.path}`,
        uid: ref.id,
        detail: 'document (or subcollection) keyed by a deleted account',
      });
    }
  }
  const byCollection = new Map<string, QueryDocumentSnapshot[]>([
    [COLLECTIONS.trainingImages, trainingImages.docs],
    [COLLECTIONS.uploads, uploads.docs],
    [COLLECTIONS.reviewCandidates, candidates.docs],
    [COLLECTIONS.trainingRuns, trainingRuns.docs],
  ]);
  for (const [collection, field] of ACTOR_FIELDS) {
    for (const doc of byCollection.get(collection) ?? []) {
      const uid = str(doc.get(field));
      if (deleted(uid)) {
        add({
          rule: 'deleted-account-data',
          where: `firestore:${doc.ref.path}`,
          uid,
          detail: `${field} still names a deleted account`,
        });
      }
    }
  }
  return violations;
}
