/**
 * Training images' 256 px thumbnails (issue 23) against the Emulator Suite: the ingestion
 * trigger writes one next to each training image, with its own download token, and records it;
 * a relabel moves it, a deletion and every erasure (consent withdrawn, observation deleted,
 * review undone, account erased, anonymous retention) delete it; `npm run migrate` gives images
 * ingested before thumbnails theirs, once, and leaves no thumbnail behind when an erasure or a
 * relabel races it. The data-protection invariants (no thumbnail without its record, none
 * recorded without its object) are checked after each sequence.
 */
import { createHash, randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainingThumbnailPath } from '@wildlens/shared';
import {
  downloadTokenOf,
  downloadUrl,
  withDownloadToken,
} from '../../functions/src/common/download-url.js';
import {
  deleteTrainingImage,
  relabelTrainingImage,
} from '../../functions/src/handlers/admin/images.js';
import { eraseAccount } from '../../functions/src/handlers/erasure.js';
import {
  accountKindsFrom,
  deleteObservation,
  purgeAnonymousObservations,
  setObservationShare,
} from '../../functions/src/handlers/observation-actions.js';
import { saveWithDownloadUrl } from '../../functions/src/handlers/ingestion.js';
import { candidateIdFor } from '../../functions/src/handlers/review.js';
import { undoReviewDecision } from '../../functions/src/handlers/review-undo.js';
import { backfillTrainingThumbnails } from '../../functions/src/handlers/thumbnail-migration.js';
import { runMigrations } from '../../scripts/migrate.js';
import { barrier } from '../helpers/barrier.js';
import {
  acceptAndIngest,
  callWithToken,
  erasureDeps,
  identifyAs,
  objectsUnder,
  texturedPhoto,
  uploadTrainingImage,
  violations,
} from './in-process.js';
import {
  adminApp,
  adminAuth,
  adminBucket,
  adminDb,
  closeAdmin,
  expectAcceptedTrainingImage,
  ingestionRecord,
  signedInClient,
  type Client,
  downloadObject,
} from './support.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

let admin: Client & { uid: string };
let photoSeed = 300;
const nextPhoto = () => texturedPhoto(++photoSeed);
const imageDoc = (imageId: string) => adminDb().doc(`trainingImages/${imageId}`);
const exists = async (name: string) => (await adminBucket().file(name).exists())[0];

/** The bytes behind a download URL, or its HTTP status when it does not open. */
async function fetchBytes(url: string): Promise<Buffer | number> {
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  return res.ok ? body : res.status;
}

/** The thumbnail objects of one training image, whatever its label. */
async function thumbnailsOf(imageId: string): Promise<string[]> {
  return (await objectsUnder('thumbnails/')).filter((name) => name.includes(imageId)).sort();
}

/**
 * Checks that a training image's record names its thumbnail, that its URL opens it, and that it
 * is a JPEG whose long side is at most 256 px, far lighter than the photo; returns it.
 */
async function expectThumbnail(imageId: string): Promise<{ path: string; url: string }> {
  const image = await imageDoc(imageId).get();
  const storagePath = String(image.get('storagePath'));
  const path = String(image.get('thumbnailPath'));
  const url = String(image.get('thumbnailUrl'));
  expect(path).toBe(trainingThumbnailPath(storagePath));
  expect(await thumbnailsOf(imageId)).toEqual([path]);
  const thumbnail = await fetchBytes(url);
  const photo = await fetchBytes(String(image.get('imageUrl')));
  if (typeof thumbnail === 'number' || typeof photo === 'number') {
    throw new Error(`download URLs answered ${String(thumbnail)} / ${String(photo)}`);
  }
  expect(thumbnail.equals(await downloadObject(path))).toBe(true);
  const meta = await sharp(thumbnail).metadata();
  expect(meta.format).toBe('jpeg');
  expect(Math.max(meta.width ?? Infinity, meta.height ?? Infinity)).toBeLessThanOrEqual(256);
  expect(thumbnail.length).toBeLessThan(photo.length / 4);
  return { path, url };
}

/** A hiker's shared observation accepted as a lynx and ingested: a training image of theirs. */
async function sharedTrainingImage(uid: string, options: { anonymous?: boolean } = {}) {
  const { observationId } = await identifyAs(uid, await nextPhoto(), options);
  const reviewerUid = `relecteur-${randomUUID().slice(0, 8)}`;
  const imageId = await acceptAndIngest(reviewerUid, uid, observationId, 'lynx');
  await expectThumbnail(imageId);
  return { observationId, imageId, reviewerUid };
}

/**
 * An image as ingestion left it before thumbnails existed: its JPEG and record, no thumbnail
 * (written here rather than ingested: the trigger, racing an in-process ingestion, could write
 * the thumbnail again after the test removed it).
 */
async function legacyImage(speciesId = 'renard'): Promise<string> {
  const jpeg = await nextPhoto();
  const imageId = createHash('sha256').update(jpeg).digest('hex');
  const storagePath = `training/${speciesId}/${imageId}.jpg`;
  const imageUrl = await saveWithDownloadUrl(adminDb(), adminBucket(), storagePath, jpeg);
  await imageDoc(imageId).set({
    speciesId,
    storagePath,
    imageUrl,
    storedSha256: imageId,
    source: 'upload',
    createdAt: new Date(),
  });
  return imageId;
}

beforeAll(async () => {
  admin = await signedInClient({ admin: true });
});

afterAll(closeAdmin);

/**
 * A safety net, not a speed target: the first call of each deployed function starts its emulator
 * worker, which takes minutes on two busy cores.
 */
const SLOW_START = { timeout: HANG_BOUND_MS };

describe('the invariants checker knows thumbnails', () => {
  it('finds each kind of thumbnail violation, and nothing once they are gone', async () => {
    // A thumbnail that honours a token besides its record's (a metadata patch adds one).
    const leaky = await legacyImage('chat');
    await backfillTrainingThumbnails({ db: adminDb(), bucket: adminBucket() });
    const leakyThumbnail = String((await imageDoc(leaky).get()).get('thumbnailPath'));
    await adminBucket()
      .file(leakyThumbnail)
      .setMetadata({ metadata: { firebaseStorageDownloadTokens: randomUUID() } });
    // A thumbnail no record names.
    const orphan = `thumbnails/training/renard/${'ef'.repeat(32)}.jpg`;
    await saveWithDownloadUrl(adminDb(), adminBucket(), orphan, await nextPhoto());
    // A record naming its thumbnail, which does not exist.
    const missing = await legacyImage();
    const missingPath = trainingThumbnailPath(`training/renard/${missing}.jpg`) ?? '';
    await imageDoc(missing).update({
      thumbnailPath: missingPath,
      thumbnailUrl: downloadUrl(adminBucket().name, missingPath, randomUUID()),
    });
    // A record naming a thumbnail that is not its JPEG's (it exists).
    const wrong = await legacyImage();
    const wrongPath = `thumbnails/training/loup/${wrong}.jpg`;
    await imageDoc(wrong).update({
      thumbnailPath: wrongPath,
      thumbnailUrl: await saveWithDownloadUrl(
        adminDb(),
        adminBucket(),
        wrongPath,
        await nextPhoto(),
      ),
    });
    // A URL without the path it opens.
    const urlOnly = await legacyImage();
    await imageDoc(urlOnly).update({ thumbnailUrl: 'http://127.0.0.1/vignette?token=x' });

    const found = await violations();
    expect(found.map((v) => [v.rule, v.where]).sort()).toEqual(
      [
        ['unrecorded-download-token', `storage:${leakyThumbnail}`],
        ['object-without-record', `storage:${orphan}`],
        // Its token opens it, and no record holds that token.
        ['unrecorded-download-token', `storage:${orphan}`],
        ['record-without-object', `firestore:trainingImages/${missing}`],
        ['record-without-object', `firestore:trainingImages/${wrong}`],
        ['record-without-object', `firestore:trainingImages/${urlOnly}`],
      ].sort(),
    );

    await Promise.all(
      [leaky, missing, wrong, urlOnly].map((imageId) =>
        deleteTrainingImage(admin.uid, { imageId }, erasureDeps()),
      ),
    );
    await adminBucket().file(orphan).delete();
    await adminBucket().file(wrongPath).delete();
    expect(await violations()).toEqual([]);
  });
});

describe('the ingestion trigger writes a thumbnail that follows its image', SLOW_START, () => {
  it('ingested with its own token; moved by a relabel; deleted with the image', async () => {
    const data = await nextPhoto();
    const hash = createHash('sha256').update(data).digest('hex');
    const name = `incoming/renard/lot-vignettes/${hash.slice(0, 8)}.jpg`;
    await adminBucket().file(name).save(data, { resumable: false, contentType: 'image/jpeg' });
    const { image } = await expectAcceptedTrainingImage(
      await ingestionRecord(name),
      hash,
      'renard',
    );
    const first = await expectThumbnail(hash);
    expect(first.path).toBe(`thumbnails/training/renard/${hash}.jpg`);
    // Its own key: the photo's token does not open the thumbnail.
    const photoToken = downloadTokenOf(image.get('imageUrl')) ?? '';
    expect(downloadTokenOf(first.url)).not.toBe(photoToken);
    expect(await fetchBytes(withDownloadToken(first.url, photoToken))).toBe(403);
    expect(await violations()).toEqual([]);

    const token = (await admin.auth.currentUser?.getIdToken()) ?? '';
    const relabel = await callWithToken('relabelTrainingImage', token, {
      imageId: hash,
      speciesId: 'loup',
    });
    expect(relabel.status, JSON.stringify(relabel.body)).toBe(200);
    const moved = await expectThumbnail(hash);
    expect(moved.path).toBe(`thumbnails/training/loup/${hash}.jpg`);
    expect(await exists(first.path)).toBe(false);
    expect(await fetchBytes(first.url)).not.toBeInstanceOf(Buffer);
    expect(await violations()).toEqual([]);

    const deleted = await callWithToken('deleteTrainingImage', token, { imageId: hash });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect((await imageDoc(hash).get()).exists).toBe(false);
    expect(await thumbnailsOf(hash)).toEqual([]);
    expect(await violations()).toEqual([]);
  });
});

describe('every erasure of a hiker’s photo deletes its thumbnail', SLOW_START, () => {
  it('consent withdrawn', async () => {
    const hiker = (await adminAuth().createUser({ email: `v-${randomUUID()}@example.org` })).uid;
    const { observationId, imageId } = await sharedTrainingImage(hiker);
    await setObservationShare(hiker, { observationId, shareForTraining: false }, erasureDeps());
    expect((await imageDoc(imageId).get()).exists).toBe(false);
    expect(await thumbnailsOf(imageId)).toEqual([]);
    expect(await violations()).toEqual([]);
  });

  it('observation deleted', async () => {
    const hiker = (await adminAuth().createUser({ email: `v-${randomUUID()}@example.org` })).uid;
    const { observationId, imageId } = await sharedTrainingImage(hiker);
    await deleteObservation(hiker, { observationId }, erasureDeps());
    expect(await thumbnailsOf(imageId)).toEqual([]);
    expect(await violations()).toEqual([]);
  });

  it('review decision undone', async () => {
    const hiker = (await adminAuth().createUser({ email: `v-${randomUUID()}@example.org` })).uid;
    const { observationId, imageId, reviewerUid } = await sharedTrainingImage(hiker);
    const candidateId = candidateIdFor(hiker, observationId);
    const undone = await undoReviewDecision(reviewerUid, { candidateId }, erasureDeps());
    expect(undone).toMatchObject({ undone: 'accepted', trainingImagesRemoved: 1 });
    expect(await thumbnailsOf(imageId)).toEqual([]);
    expect(await violations()).toEqual([]);
  });

  it('account erased', async () => {
    const hiker = (await adminAuth().createUser({ email: `v-${randomUUID()}@example.org` })).uid;
    const { imageId } = await sharedTrainingImage(hiker);
    await eraseAccount(hiker, erasureDeps());
    expect(await thumbnailsOf(imageId)).toEqual([]);
    expect(await violations([hiker])).toEqual([]);
  });

  it('anonymous account past its retention', async () => {
    // No provider: an anonymous account for the purge (accountKindsFrom asks Auth).
    const hiker = (await adminAuth().createUser({})).uid;
    const { imageId } = await sharedTrainingImage(hiker, { anonymous: true });
    const purged = await purgeAnonymousObservations({
      ...erasureDeps(),
      now: () => new Date(Date.now() + 31 * 86_400_000),
      retentionDays: 30,
      accountKinds: accountKindsFrom(adminAuth()),
    });
    expect(purged.erased).toBeGreaterThanOrEqual(1);
    expect((await imageDoc(imageId).get()).exists).toBe(false);
    expect(await thumbnailsOf(imageId)).toEqual([]);
    expect(await violations()).toEqual([]);
  });
});

describe('npm run migrate gives older images their thumbnail', SLOW_START, () => {
  it('once: a second run changes nothing', async () => {
    const imageId = await legacyImage();
    const current = await uploadTrainingImage(await nextPhoto());
    const before = await imageDoc(current).get();
    expect(await violations()).toEqual([]);

    const changes = await runMigrations(adminApp());
    expect(changes.join('\n')).toMatch(/Vignettes de 256 px ajoutées .* : 1 sur \d+ image/);
    const { path } = await expectThumbnail(imageId);
    expect(path).toBe(`thumbnails/training/renard/${imageId}.jpg`);
    // An image that had its thumbnail keeps it as it was.
    expect((await imageDoc(current).get()).get('thumbnailUrl')).toBe(before.get('thumbnailUrl'));
    expect(await violations()).toEqual([]);

    const [{ generation }] = await adminBucket().file(path).getMetadata();
    expect(await runMigrations(adminApp())).toEqual([]);
    expect((await adminBucket().file(path).getMetadata())[0].generation).toBe(generation);
  });

  it('an erasure while it makes a thumbnail: the migration deletes what it wrote after it', async () => {
    const imageId = await legacyImage('loup');
    const made = barrier();
    const migrating = backfillTrainingThumbnails({
      db: adminDb(),
      bucket: adminBucket(),
      hooks: { thumbnailMade: made.wait },
    });
    await made.reached;
    try {
      // Made, not written yet: the erasure (the one every erasure path runs) takes everything
      // before the migration writes it.
      await deleteTrainingImage(admin.uid, { imageId }, erasureDeps());
      expect((await imageDoc(imageId).get()).exists).toBe(false);
    } finally {
      made.release();
    }
    expect(await migrating).toMatchObject({ thumbnailsWritten: 0, skipped: 1 });
    expect(await thumbnailsOf(imageId)).toEqual([]);
    expect(await violations()).toEqual([]);
  });

  it('a relabel while it makes a thumbnail: the relabel’s stays, the migration’s goes', async () => {
    const imageId = await legacyImage('lapin');
    const made = barrier();
    const migrating = backfillTrainingThumbnails({
      db: adminDb(),
      bucket: adminBucket(),
      hooks: { thumbnailMade: made.wait },
    });
    await made.reached;
    try {
      await relabelTrainingImage(admin.uid, { imageId, speciesId: 'castor' }, erasureDeps());
    } finally {
      made.release();
    }
    expect(await migrating).toMatchObject({ thumbnailsWritten: 0, skipped: 1 });
    const { path } = await expectThumbnail(imageId);
    expect(path).toBe(`thumbnails/training/castor/${imageId}.jpg`);
    expect(await violations()).toEqual([]);
  });
});
