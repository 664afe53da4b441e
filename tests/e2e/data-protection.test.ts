/**
 * Data protection and consent (issue 20, findings 3, 4, 8, 10 and 11) against the Emulator
 * Suite: a linked anonymous account keeps its history; an admin's relabel racing a consent
 * withdrawal or an account erasure leaves no training copy behind; consent given while the
 * observation is deleted, or again while its withdrawal runs, leaves the queue and the record in
 * agreement; deleting a training image takes its cached embeddings; the review queue cannot be
 * flooded. Races are ordered by barriers at the erasure's and the relabel's pause points (no
 * sleeps), the other side going through the deployed functions; the data-protection invariants
 * (tests/helpers/data-invariants.ts) are checked after each sequence.
 */
import { randomUUID } from 'node:crypto';
import { Timestamp } from 'firebase-admin/firestore';
import { EmailAuthProvider, linkWithCredential, signInAnonymously } from 'firebase/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eraseAccount } from '../../functions/src/handlers/erasure.js';
import {
  accountKindsFrom,
  deleteObservation,
  purgeAnonymousObservations,
  setObservationShare,
} from '../../functions/src/handlers/observation-actions.js';
import { relabelTrainingImage } from '../../functions/src/handlers/admin/images.js';
import { candidateIdFor } from '../../functions/src/handlers/review.js';
import { barrier } from '../helpers/barrier.js';
import {
  acceptAndIngest,
  callWithToken,
  erasureDeps,
  fixedModel,
  identifyAs,
  objectsUnder,
  texturedPhoto,
  uploadTrainingImage,
  violations,
} from './in-process.js';
import {
  adminAuth,
  adminBucket,
  adminDb,
  client,
  closeAdmin,
  signedInClient,
  type Client,
} from './support.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

type Signed = Client & { uid: string; email: string };

let admin: Signed;
/** Each test's photo differs, so no two tests share a training image (ids are content hashes). */
let photoSeed = 0;
const nextPhoto = () => texturedPhoto(++photoSeed);

const observationDoc = (uid: string, observationId: string) =>
  adminDb().doc(`users/${uid}/observations/${observationId}`);
const candidateDoc = (uid: string, observationId: string) =>
  adminDb().doc(`reviewCandidates/${candidateIdFor(uid, observationId)}`);
const tokenOf = async (c: Client) => (await c.auth.currentUser?.getIdToken()) ?? '';

/** The daily retention purge, run as if 31 days had passed. */
const purge = () =>
  purgeAnonymousObservations({
    db: adminDb(),
    bucket: adminBucket(),
    now: () => new Date(Date.now() + 31 * 86_400_000),
    retentionDays: 30,
    accountKinds: accountKindsFrom(adminAuth()),
  });

/** The training objects of one image, whatever its label. */
async function trainingObjectsOf(imageId: string): Promise<string[]> {
  return (await objectsUnder('training/')).filter((name) => name.includes(imageId)).sort();
}

/** A hiker's observation, shared, accepted as a lynx and ingested: a training image of theirs. */
async function sharedTrainingImage(hiker: Signed) {
  const { observationId } = await identifyAs(hiker.uid, await nextPhoto());
  const imageId = await acceptAndIngest(admin.uid, hiker.uid, observationId, 'lynx');
  expect(await trainingObjectsOf(imageId)).toEqual([`training/lynx/${imageId}.jpg`]);
  return { observationId, imageId };
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

describe('a linked anonymous account keeps its history (issue 20, finding 3)', SLOW_START, () => {
  it('the retention purge asks Auth: the linked account’s observations stay, the anonymous one’s go', async () => {
    const linked = client();
    await signInAnonymously(linked.auth);
    const linkedUid = linked.auth.currentUser?.uid ?? '';
    const anonymous = client();
    await signInAnonymously(anonymous.auth);
    const anonymousUid = anonymous.auth.currentUser?.uid ?? '';
    // Both identified (and shared) while anonymous: their observations say so.
    const kept = await identifyAs(linkedUid, await nextPhoto(), { anonymous: true });
    const purged = await identifyAs(anonymousUid, await nextPhoto(), { anonymous: true });
    expect((await observationDoc(linkedUid, kept.observationId).get()).get('anonymous')).toBe(true);

    // The first becomes a real account: same uid, now with an e-mail and a password.
    const email = `lie-${randomUUID().slice(0, 8)}@example.org`;
    const user = linked.auth.currentUser;
    if (!user) throw new Error('not signed in');
    await linkWithCredential(user, EmailAuthProvider.credential(email, 'mot-de-passe-de-test'));

    expect(await purge()).toEqual({ erased: 1, kept: 1, orphanCandidates: 0 });
    const record = await observationDoc(linkedUid, kept.observationId).get();
    expect(record.exists).toBe(true);
    expect(record.get('anonymous')).toBe(false);
    expect((await candidateDoc(linkedUid, kept.observationId).get()).get('anonymous')).toBe(false);
    expect(await objectsUnder(`users/${linkedUid}/`)).toHaveLength(2);
    expect((await observationDoc(anonymousUid, purged.observationId).get()).exists).toBe(false);
    expect(await objectsUnder(`users/${anonymousUid}/`)).toEqual([]);
    // Nothing marked anonymous is left to look at.
    expect(await purge()).toEqual({ erased: 0, kept: 0, orphanCandidates: 0 });
    expect(await violations()).toEqual([]);
  });
});

describe(
  'an admin relabel racing an erasure leaves no training copy (issue 20, finding 4)',
  SLOW_START,
  () => {
    it('relabelled after the withdrawal listed the image: the erasure follows it to its new label', async () => {
      const hiker = await signedInClient();
      const { observationId, imageId } = await sharedTrainingImage(hiker);
      const listed = barrier();
      const withdrawing = setObservationShare(
        hiker.uid,
        { observationId, shareForTraining: false },
        erasureDeps({ hooks: { trainingImagesListed: listed.wait } }),
      );
      await listed.reached;
      try {
        const relabel = await callWithToken('relabelTrainingImage', await tokenOf(admin), {
          imageId,
          speciesId: 'loup',
        });
        expect(relabel.status, JSON.stringify(relabel.body)).toBe(200);
        // The race is real: the erasure listed it under lynx, it is now under loup.
        expect(await trainingObjectsOf(imageId)).toEqual([`training/loup/${imageId}.jpg`]);
      } finally {
        listed.release();
      }
      await withdrawing;
      expect(await trainingObjectsOf(imageId)).toEqual([]);
      expect((await adminDb().doc(`trainingImages/${imageId}`).get()).exists).toBe(false);
      expect(await violations()).toEqual([]);
    });

    it('withdrawn while the relabel had written its copy: the relabel answers not-found and deletes it', async () => {
      const hiker = await signedInClient();
      const { observationId, imageId } = await sharedTrainingImage(hiker);
      const written = barrier();
      const relabeling = relabelTrainingImage(
        admin.uid,
        { imageId, speciesId: 'loup' },
        { ...erasureDeps(), relabelHooks: { copyWritten: written.wait } },
      ).catch((e: unknown) => e);
      await written.reached;
      try {
        expect(await trainingObjectsOf(imageId)).toEqual([
          `training/loup/${imageId}.jpg`,
          `training/lynx/${imageId}.jpg`,
        ]);
        const withdrawn = await callWithToken('setObservationShare', await tokenOf(hiker), {
          observationId,
          shareForTraining: false,
        });
        expect(withdrawn.status, JSON.stringify(withdrawn.body)).toBe(200);
      } finally {
        written.release();
      }
      expect(await relabeling).toMatchObject({ code: 'not-found' });
      expect(await trainingObjectsOf(imageId)).toEqual([]);
      expect(await violations()).toEqual([]);
    });

    it('withdrawn after the relabel read the record: the relabel answers not-found, writes nothing', async () => {
      const hiker = await signedInClient();
      const { observationId, imageId } = await sharedTrainingImage(hiker);
      const read = barrier();
      const relabeling = relabelTrainingImage(
        admin.uid,
        { imageId, speciesId: 'loup' },
        { ...erasureDeps(), relabelHooks: { recordRead: read.wait } },
      ).catch((e: unknown) => e);
      await read.reached;
      try {
        const withdrawn = await callWithToken('setObservationShare', await tokenOf(hiker), {
          observationId,
          shareForTraining: false,
        });
        expect(withdrawn.status, JSON.stringify(withdrawn.body)).toBe(200);
      } finally {
        read.release();
      }
      expect(await relabeling).toMatchObject({ code: 'not-found' });
      expect(await trainingObjectsOf(imageId)).toEqual([]);
      expect(await violations()).toEqual([]);
    });

    it('relabelled while the owner’s account is erased: nothing of the photo survives the account', async () => {
      const hiker = await signedInClient();
      const { imageId } = await sharedTrainingImage(hiker);
      const listed = barrier();
      const erasing = eraseAccount(
        hiker.uid,
        erasureDeps({ hooks: { trainingImagesListed: listed.wait } }),
      );
      await listed.reached;
      try {
        const relabel = await callWithToken('relabelTrainingImage', await tokenOf(admin), {
          imageId,
          speciesId: 'loup',
        });
        expect(relabel.status, JSON.stringify(relabel.body)).toBe(200);
      } finally {
        listed.release();
      }
      await erasing;
      expect(await trainingObjectsOf(imageId)).toEqual([]);
      expect(await violations([hiker.uid])).toEqual([]);
    });
  },
);

describe(
  'consent races leave the queue and the record in agreement (issue 20, finding 8)',
  SLOW_START,
  () => {
    it('consent given while the observation is deleted is refused, even for an anonymous account', async () => {
      const anonymous = client();
      await signInAnonymously(anonymous.auth);
      const uid = anonymous.auth.currentUser?.uid ?? '';
      const { observationId } = await identifyAs(uid, await nextPhoto(), {
        anonymous: true,
        shareForTraining: false,
      });
      const closed = barrier();
      const deleting = deleteObservation(
        uid,
        { observationId },
        erasureDeps({ hooks: { contributionClosed: closed.wait } }),
      );
      await closed.reached;
      try {
        // Where the old deletion had erased the contribution but not yet the record.
        expect((await observationDoc(uid, observationId).get()).exists).toBe(true);
        const share = await callWithToken('setObservationShare', await tokenOf(anonymous), {
          observationId,
          shareForTraining: true,
        });
        expect(share.body.error?.status, JSON.stringify(share.body)).toBe('NOT_FOUND');
      } finally {
        closed.release();
      }
      await deleting;
      expect((await candidateDoc(uid, observationId).get()).exists).toBe(false);
      expect(await objectsUnder(`users/${uid}/`)).toEqual([]);
      expect(await violations()).toEqual([]);
    });

    it('a candidate an earlier race left without its observation is erased with the anonymous data', async () => {
      // As the race left it before the fix: queued, anonymous, and no observation leads to it.
      const uid = `anonyme-${randomUUID().slice(0, 8)}`;
      const candidate = candidateDoc(uid, 'supprimee');
      await candidate.set({
        ownerUid: uid,
        observationId: 'supprimee',
        status: 'pending',
        anonymous: true,
        sharedAt: Timestamp.now(),
      });
      expect((await violations()).map((v) => v.rule)).toEqual(['erased-photo-derivative']);
      expect(await purge()).toEqual({ erased: 0, kept: 0, orphanCandidates: 1 });
      expect((await candidate.get()).exists).toBe(false);
      expect(await violations()).toEqual([]);
    });

    it('consent given again while its withdrawal runs: the later call wins, queue and record agree', async () => {
      const hiker = await signedInClient();
      const { observationId } = await identifyAs(hiker.uid, await nextPhoto());
      const closed = barrier();
      const withdrawing = setObservationShare(
        hiker.uid,
        { observationId, shareForTraining: false },
        erasureDeps({ hooks: { contributionClosed: closed.wait } }),
      );
      await closed.reached;
      try {
        // The withdrawal has committed: consent and candidate went together.
        expect((await observationDoc(hiker.uid, observationId).get()).get('shareForTraining')).toBe(
          false,
        );
        expect((await candidateDoc(hiker.uid, observationId).get()).exists).toBe(false);
        const again = await callWithToken('setObservationShare', await tokenOf(hiker), {
          observationId,
          shareForTraining: true,
        });
        expect(again.status, JSON.stringify(again.body)).toBe(200);
      } finally {
        closed.release();
      }
      await withdrawing;
      const record = await observationDoc(hiker.uid, observationId).get();
      const candidate = await candidateDoc(hiker.uid, observationId).get();
      expect(record.get('shareForTraining')).toBe(true);
      expect(candidate.get('status')).toBe('pending');
      // The reviewer is shown the photo under the record's current URL.
      expect(candidate.get('photoUrl')).toBe(record.get('photoUrl'));
      expect(await violations()).toEqual([]);

      // And the other way round: withdrawn last, nothing stays queued.
      const withdrawn = await callWithToken('setObservationShare', await tokenOf(hiker), {
        observationId,
        shareForTraining: false,
      });
      expect(withdrawn.status, JSON.stringify(withdrawn.body)).toBe(200);
      expect((await candidateDoc(hiker.uid, observationId).get()).exists).toBe(false);
      expect(await violations()).toEqual([]);
    });

    it('consent given again while the withdrawal erases the accepted copy: queued afresh, no copy left', async () => {
      const hiker = await signedInClient();
      const { observationId, imageId } = await sharedTrainingImage(hiker);
      const listed = barrier();
      const withdrawing = setObservationShare(
        hiker.uid,
        { observationId, shareForTraining: false },
        erasureDeps({ hooks: { trainingImagesListed: listed.wait } }),
      );
      await listed.reached;
      try {
        const again = await callWithToken('setObservationShare', await tokenOf(hiker), {
          observationId,
          shareForTraining: true,
        });
        expect(again.status, JSON.stringify(again.body)).toBe(200);
      } finally {
        listed.release();
      }
      await withdrawing;
      expect((await observationDoc(hiker.uid, observationId).get()).get('shareForTraining')).toBe(
        true,
      );
      expect((await candidateDoc(hiker.uid, observationId).get()).get('status')).toBe('pending');
      expect(await trainingObjectsOf(imageId)).toEqual([]);
      expect(await violations()).toEqual([]);
    });
  },
);

describe(
  'an admin deleting a training image deletes its cached embeddings (issue 20, finding 10)',
  SLOW_START,
  () => {
    it('the JPEG, every backbone’s embedding and the record go', async () => {
      const imageId = await uploadTrainingImage(await nextPhoto());
      const image = await adminDb().doc(`trainingImages/${imageId}`).get();
      const storedSha256 = String(image.get('storedSha256'));
      // As the trainer caches them: one object per backbone for each training JPEG.
      for (const backbone of ['nsfw-mobilenet-v2-mid', 'mobilenet-v1-0.75@192']) {
        await adminBucket()
          .file(`embeddings/${backbone}/${storedSha256}.bin`)
          .save(Buffer.alloc(64), { resumable: false });
      }
      expect(await violations()).toEqual([]);
      const deleted = await callWithToken('deleteTrainingImage', await tokenOf(admin), { imageId });
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
      expect(await objectsUnder('embeddings/')).toEqual([]);
      expect(await trainingObjectsOf(imageId)).toEqual([]);
      expect((await adminDb().doc(`trainingImages/${imageId}`).get()).exists).toBe(false);
      expect(await violations()).toEqual([]);
    });
  },
);

describe('the review queue cannot be flooded (issue 20, finding 11)', SLOW_START, () => {
  it('a picture the model saw no footprint in is not queued by consent alone, only once its owner names the species', async () => {
    const hiker = await signedInClient();
    const { observationId } = await identifyAs(hiker.uid, await nextPhoto(), {
      deps: { engine: { model: async () => fixedModel('not_a_footprint') } },
    });
    const record = observationDoc(hiker.uid, observationId);
    expect((await record.get()).get('shareForTraining')).toBe(true);
    expect((await candidateDoc(hiker.uid, observationId).get()).exists).toBe(false);
    for (const shareForTraining of [false, true, true]) {
      const answer = await callWithToken('setObservationShare', await tokenOf(hiker), {
        observationId,
        shareForTraining,
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect((await candidateDoc(hiker.uid, observationId).get()).exists).toBe(false);
    }
    // The hiker says it is a wolf's track: a model error worth a review.
    const named = await callWithToken('setObservationFeedback', await tokenOf(hiker), {
      observationId,
      correctedSpeciesId: 'loup',
    });
    expect(named.status, JSON.stringify(named.body)).toBe(200);
    expect((await candidateDoc(hiker.uid, observationId).get()).data()).toMatchObject({
      status: 'pending',
      verdict: 'not_a_footprint',
      proposedSpeciesId: 'loup',
    });
    expect(await violations()).toEqual([]);
  });

  it('a rejected photo is not queued again by withdrawing and giving consent again', async () => {
    const hiker = await signedInClient();
    const { observationId } = await identifyAs(hiker.uid, await nextPhoto());
    const rejected = await callWithToken('rejectReviewCandidate', await tokenOf(admin), {
      candidateId: candidateIdFor(hiker.uid, observationId),
      reason: 'Photo floue.',
    });
    expect(rejected.status, JSON.stringify(rejected.body)).toBe(200);
    for (let round = 0; round < 3; round++) {
      for (const shareForTraining of [false, true]) {
        const answer = await callWithToken('setObservationShare', await tokenOf(hiker), {
          observationId,
          shareForTraining,
        });
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect((await candidateDoc(hiker.uid, observationId).get()).exists, `round ${round}`).toBe(
          false,
        );
      }
    }
    const record = await observationDoc(hiker.uid, observationId).get();
    expect(record.get('shareForTraining')).toBe(true);
    expect(record.get('reviewRejectedAt')).toBeTruthy();
    expect(await violations()).toEqual([]);
  });
});
