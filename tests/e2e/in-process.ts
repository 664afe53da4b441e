/**
 * Handlers run in the test process against the emulators, for the races that need a pause
 * point inside them (the functions emulator cannot be paused), next to the deployed functions
 * called over HTTP. The identification's model is a fixed stand-in: which species it answers
 * plays no part in what these tests check, only its verdict may.
 */
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { observationIncomingPath } from '@wildlens/shared';
import {
  cachedSpeciesLookup,
  identifyFootprint,
  type IdentifyDeps,
  type IdentifyResponse,
} from '../../functions/src/handlers/identify.js';
import type { ErasureDeps } from '../../functions/src/handlers/erasure.js';
import { acceptReviewCandidate, candidateIdFor } from '../../functions/src/handlers/review.js';
import {
  ingestUpload,
  uploadIdFor,
  type IngestionOutcome,
} from '../../functions/src/handlers/ingestion.js';
import type { ModelPrediction, ServingModel } from '../../functions/src/engine/model-engine.js';
import { dataInvariantViolations, type Violation } from '../helpers/data-invariants.js';
import { FUNCTIONS_ORIGIN, adminBucket, adminDb, eventually } from './support.js';

/** A model that always gives the same answer (verdict `uncertain`, lynx first, unless told). */
export function fixedModel(verdict: ModelPrediction['verdict'] = 'uncertain'): ServingModel {
  return {
    version: 'modele-fixe',
    predict: async () => ({
      verdict,
      top: [
        { speciesId: 'lynx', probability: 0.5 },
        { speciesId: 'chat', probability: 0.3 },
        { speciesId: 'renard', probability: 0.2 },
      ],
      probabilities: { lynx: 0.5, chat: 0.3, renard: 0.2 },
      timingsMs: { preprocess: 0, inference: 0 },
    }),
    dispose: () => {},
  };
}

export function identifyDeps(extra: Partial<IdentifyDeps> = {}): IdentifyDeps {
  return {
    db: adminDb(),
    bucket: adminBucket(),
    engine: { model: async () => fixedModel() },
    limits: { maxBytes: 10 << 20, maxPixels: 40_000_000, minSide: 64, photoMaxSide: 1600 },
    now: () => new Date(),
    species: cachedSpeciesLookup(adminDb),
    ...extra,
  };
}

export const erasureDeps = (extra: Partial<ErasureDeps> = {}): ErasureDeps => ({
  db: adminDb(),
  bucket: adminBucket(),
  now: () => new Date(),
  ...extra,
});

/** A textured JPEG (a flat one would be refused as unreadable by the inspector); `seed` varies it. */
export async function texturedPhoto(seed = 0): Promise<Buffer> {
  const noise = Buffer.alloc(640 * 480 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919 + seed * 104_729) % 251;
  return sharp(noise, { raw: { width: 640, height: 480, channels: 3 } })
    .jpeg()
    .toBuffer();
}

/** Identifies `photo` for `uid` through the handler (consent given unless told: a candidate is queued). */
export function identifyAs(
  uid: string,
  photo: Buffer,
  options: { anonymous?: boolean; shareForTraining?: boolean; deps?: Partial<IdentifyDeps> } = {},
): Promise<IdentifyResponse> {
  return identifyFootprint(
    { uid, anonymous: options.anonymous ?? false },
    { photo, location: null, takenAt: null, shareForTraining: options.shareForTraining ?? true },
    identifyDeps(options.deps),
  );
}

/**
 * Ingests an object under incoming/ in this process and returns its training image's id. The
 * ingestion trigger sees the object too: ingestion is idempotent, whichever runs first records
 * it, and the upload's record names the training image either way.
 */
export async function ingestInProcess(objectName: string): Promise<string> {
  const [metadata] = await adminBucket()
    .file(objectName)
    .getMetadata()
    .catch(() => [undefined]);
  let outcome: IngestionOutcome | undefined;
  if (metadata) {
    outcome = await ingestUpload(
      {
        name: objectName,
        size: Number(metadata.size),
        metadata: (metadata.metadata ?? {}) as Record<string, string>,
      },
      {
        db: adminDb(),
        bucket: adminBucket(),
        limits: { maxBytes: 20 << 20, maxPixels: 40_000_000, minSide: 64, maxSide: 1024 },
        now: () => new Date(),
      },
    );
  }
  if (outcome?.trainingImageId) return outcome.trainingImageId;
  // The trigger took the object first (this run found it gone): its record, written once the
  // ingestion is done, says where it went.
  const upload = await eventually(
    async () => {
      const snap = await adminDb()
        .doc(`uploads/${uploadIdFor(objectName)}`)
        .get();
      return snap.exists ? snap : undefined;
    },
    { what: `ingestion of ${objectName}` },
  );
  const imageId = upload.get('trainingImageId') as string | undefined;
  if (!imageId) throw new Error(`ingestion of ${objectName} recorded no training image`);
  return imageId;
}

/** An admin's upload of `photo` under `speciesId`, ingested: returns its training image's id. */
export async function uploadTrainingImage(photo: Buffer, speciesId = 'renard'): Promise<string> {
  const name = `incoming/${speciesId}/lot/${randomUUID()}.jpg`;
  await adminBucket().file(name).save(photo, { resumable: false, contentType: 'image/jpeg' });
  return ingestInProcess(name);
}

/**
 * Accepts the observation's candidate as `speciesId` and ingests its copy: returns the training
 * image's id.
 */
export async function acceptAndIngest(
  reviewerUid: string,
  ownerUid: string,
  observationId: string,
  speciesId: string,
): Promise<string> {
  const candidateId = candidateIdFor(ownerUid, observationId);
  await acceptReviewCandidate(
    reviewerUid,
    { candidateId, speciesId },
    { db: adminDb(), bucket: adminBucket(), now: () => new Date() },
  );
  return ingestInProcess(observationIncomingPath(speciesId, candidateId));
}

/** A callable over its HTTP protocol with a raw ID token (a deleted user's client has none). */
export async function callWithToken(name: string, token: string, data: unknown) {
  const res = await fetch(`${FUNCTIONS_ORIGIN}/${name}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ data }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { result?: unknown; error?: { status: string; message: string } },
  };
}

export async function objectsUnder(prefix: string): Promise<string[]> {
  const [files] = await adminBucket().getFiles({ prefix });
  return files.map((f) => f.name);
}

/** The data-protection invariants over the whole emulator state (tests/helpers/data-invariants.ts). */
export function violations(deletedUids: string[] = []): Promise<Violation[]> {
  return dataInvariantViolations({ db: adminDb(), bucket: adminBucket() }, { deletedUids });
}
