/**
 * An erased training image is counted on every run created since it, and on their models,
 * however many there are (issue 20, finding 18), against the Firestore and Storage emulators:
 * the record's transaction writes one erasure note, which is carried to the runs in pages of
 * bounded size, resumably. Here 650 runs (past Firestore's 500 writes per transaction), the
 * count interrupted after its first page, then finished by the next erasure's sweep.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  ERASURE_NOTES_COLLECTION,
  ERASURE_NOTE_PAGE,
  carryPendingErasureNotes,
  eraseTrainingImage,
} from '../../functions/src/handlers/erasure.js';
import { erasureDeps, texturedPhoto, uploadTrainingImage, violations } from './in-process.js';
import { adminDb, closeAdmin } from './support.js';

afterAll(closeAdmin);

const RUNS = 650;
const MODELS_EVERY = 3;

/** `count` finished runs created `offsetMs` after `from`, every MODELS_EVERY-th with its model. */
async function givenRuns(prefix: string, from: Date, count: number, offsetMs: number) {
  const db = adminDb();
  for (let start = 0; start < count; start += 200) {
    const batch = db.batch();
    for (let i = start; i < Math.min(count, start + 200); i++) {
      const id = `${prefix}-${String(i).padStart(4, '0')}`;
      const createdAt = new Date(from.getTime() + offsetMs * (i + 1));
      const version = i % MODELS_EVERY === 0 ? `v-${id}` : undefined;
      batch.set(db.doc(`trainingRuns/${id}`), {
        status: 'succeeded',
        createdAt,
        ...(version ? { modelVersion: version } : {}),
      });
      if (version) batch.set(db.doc(`models/${version}`), { version, runId: id, createdAt });
    }
    await batch.commit();
  }
}

describe('an erasure counted on 650 runs (issue 20, finding 18)', () => {
  it('pages of bounded size, resumed after an interruption, each run and model counted once', async () => {
    const imageId = await uploadTrainingImage(await texturedPhoto(42), 'renard');
    const image = await adminDb().doc(`trainingImages/${imageId}`).get();
    const createdAt = (image.get('createdAt') as { toDate(): Date }).toDate();
    // Runs of the image's snapshot (created since), and a few older ones that never had it.
    await givenRuns('apres', createdAt, RUNS, 1000);
    await givenRuns('avant', new Date(createdAt.getTime() - 60_000), 5, -1000);

    const pages: { runs: number; models: number }[] = [];
    const interrupted = await eraseTrainingImage(
      image,
      erasureDeps({
        noteHooks: {
          pageNoted: async (page) => {
            pages.push(page);
            throw new Error('arrêt simulé après la première page (test)');
          },
        },
      }),
    ).catch((err: unknown) => err);
    expect(String(interrupted)).toMatch(/arrêt simulé/);
    // The image is gone; its note is pending with the first page counted.
    expect((await adminDb().doc(`trainingImages/${imageId}`).get()).exists).toBe(false);
    const pending = await adminDb().collection(ERASURE_NOTES_COLLECTION).get();
    expect(pending.size).toBe(1);
    expect(pending.docs[0]?.get('cursor')).not.toBeNull();
    const counted = async () =>
      (await adminDb().collection('trainingRuns').where('erasedImages', '==', 1).get()).size;
    expect(await counted()).toBe(ERASURE_NOTE_PAGE);

    // The next erasure's sweep finishes it where it stopped.
    expect(
      await carryPendingErasureNotes(adminDb(), { pageNoted: async (p) => void pages.push(p) }),
    ).toBe(1);
    expect((await adminDb().collection(ERASURE_NOTES_COLLECTION).get()).empty).toBe(true);
    expect(pages.reduce((sum, p) => sum + p.runs, 0)).toBe(RUNS);
    // Each transaction writes its runs, their models and the note: far below 500 documents.
    for (const p of pages)
      expect(p.runs + p.models + 1).toBeLessThanOrEqual(2 * ERASURE_NOTE_PAGE + 1);
    expect(pages.length).toBe(Math.ceil((RUNS + 1) / ERASURE_NOTE_PAGE));

    const runs = await adminDb().collection('trainingRuns').get();
    for (const run of runs.docs) {
      expect(run.get('erasedImages') ?? 0, run.id).toBe(run.id.startsWith('apres') ? 1 : 0);
    }
    const models = await adminDb().collection('models').get();
    expect(models.size).toBe(Math.ceil(RUNS / MODELS_EVERY) + 2);
    for (const model of models.docs) {
      expect(model.get('erasedImages') ?? 0, model.id).toBe(model.id.includes('apres') ? 1 : 0);
    }
    // Idempotent: nothing left to carry, nothing counted twice.
    expect(await carryPendingErasureNotes(adminDb())).toBe(0);
    expect(await counted()).toBe(RUNS);
    expect(await violations()).toEqual([]);
  });
});
