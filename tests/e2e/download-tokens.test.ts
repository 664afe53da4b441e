/**
 * Download-token URLs against the Storage emulator (issue 20, findings 7, 13 and 16). Photos
 * are served through URLs whose token bypasses storage.rules, so the token is the only key: a
 * wrong or missing token gets 403; a URL a reviewer saw stops working once the hiker withdraws
 * consent (its token is replaced) and once the photo is deleted; training tokens written before
 * the HMAC key (guessable from the object's name) are replaced by the migration that
 * `firebase deploy` runs (firebase.json's postdeploy hook, run here as firebase-tools runs it)
 * and `npm start` runs, idempotently. The data-protection invariants, which include "no object
 * honours a token its record's URL does not hold", are checked after each sequence.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  downloadTokenOf,
  downloadUrl,
  withDownloadToken,
} from '../../functions/src/common/download-url.js';
import { downloadTokenFor, trainingTokenKey } from '../../functions/src/handlers/ingestion.js';
import type { ObservationDetail } from '../../functions/src/handlers/observation-actions.js';
import { candidateIdFor } from '../../functions/src/handlers/review.js';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import {
  callWithToken,
  identifyAs,
  texturedPhoto,
  uploadTrainingImage,
  violations,
} from './in-process.js';
import {
  PROJECT_ID,
  adminBucket,
  adminDb,
  closeAdmin,
  signedInClient,
  type Client,
  downloadObject,
} from './support.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

let photoSeed = 100;
const nextPhoto = () => texturedPhoto(++photoSeed);
const tokenOf = async (c: Client) => (await c.auth.currentUser?.getIdToken()) ?? '';

/** The HTTP status of a GET of `url`, the body read so the connection is released. */
async function statusOf(url: string): Promise<number> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status;
}

function withoutToken(url: string): string {
  const parsed = new URL(url);
  parsed.searchParams.delete('token');
  return parsed.toString();
}

afterAll(closeAdmin);

/**
 * A safety net, not a speed target: the first call of each deployed function starts its emulator
 * worker, which takes minutes on two busy cores.
 */
const SLOW_START = { timeout: HANG_BOUND_MS };

describe('only the right, current token opens a photo (issue 20, finding 16)', SLOW_START, () => {
  it('a training image: its URL opens it; a wrong, missing or another object’s token gets 403', async () => {
    const imageId = await uploadTrainingImage(await nextPhoto());
    const other = await uploadTrainingImage(await nextPhoto());
    const image = await adminDb().doc(`trainingImages/${imageId}`).get();
    const url = String(image.get('imageUrl'));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const stored = await downloadObject(String(image.get('storagePath')));
    expect(Buffer.from(await res.arrayBuffer()).equals(stored)).toBe(true);

    const otherToken = downloadTokenOf(
      (await adminDb().doc(`trainingImages/${other}`).get()).get('imageUrl'),
    );
    expect(await statusOf(withDownloadToken(url, randomUUID()))).toBe(403);
    expect(await statusOf(withDownloadToken(url, otherToken ?? ''))).toBe(403);
    expect(await statusOf(withoutToken(url))).toBe(403);
    expect(await violations()).toEqual([]);
  });

  it('an observation’s photo and thumbnail: the owner’s URLs open them, wrong or missing tokens do not', async () => {
    const hiker = await signedInClient();
    const { photoUrl, thumbnailUrl } = await identifyAs(hiker.uid, await nextPhoto(), {
      shareForTraining: false,
    });
    for (const url of [photoUrl, thumbnailUrl]) {
      expect(await statusOf(url)).toBe(200);
      expect(await statusOf(withDownloadToken(url, randomUUID()))).toBe(403);
      expect(await statusOf(withoutToken(url))).toBe(403);
    }
    // The photo's token does not open the thumbnail, nor the reverse.
    expect(await statusOf(withDownloadToken(photoUrl, downloadTokenOf(thumbnailUrl) ?? ''))).toBe(
      403,
    );
    expect(await violations()).toEqual([]);
  });
});

describe(
  'a URL a reviewer saw stops working when access must end (issue 20, findings 7 and 16)',
  SLOW_START,
  () => {
    it('consent withdrawn: the old tokens get 403, the owner’s new URLs open the photos', async () => {
      const hiker = await signedInClient();
      const { observationId } = await identifyAs(hiker.uid, await nextPhoto());
      const candidate = adminDb().doc(
        `reviewCandidates/${candidateIdFor(hiker.uid, observationId)}`,
      );
      // What the reviewer sees in the queue.
      const seen = [
        String((await candidate.get()).get('photoUrl')),
        String((await candidate.get()).get('thumbnailUrl')),
      ];
      for (const url of seen) expect(await statusOf(url)).toBe(200);

      const withdrawn = await callWithToken('setObservationShare', await tokenOf(hiker), {
        observationId,
        shareForTraining: false,
      });
      expect(withdrawn.status, JSON.stringify(withdrawn.body)).toBe(200);
      const detail = withdrawn.body.result as ObservationDetail;
      const fresh = [String(detail.photoUrl), String(detail.thumbnailUrl)];
      expect(fresh).not.toEqual(seen);
      for (const url of seen) expect(await statusOf(url)).toBe(403);
      for (const url of fresh) expect(await statusOf(url)).toBe(200);
      // The history gives the new URLs too.
      const record = await adminDb().doc(`users/${hiker.uid}/observations/${observationId}`).get();
      expect([record.get('photoUrl'), record.get('thumbnailUrl')]).toEqual(fresh);
      expect(await violations()).toEqual([]);

      // Shared again: the reviewer gets the current URLs, which open the photo.
      const again = await callWithToken('setObservationShare', await tokenOf(hiker), {
        observationId,
        shareForTraining: true,
      });
      expect(again.status, JSON.stringify(again.body)).toBe(200);
      expect((await candidate.get()).get('photoUrl')).toBe(fresh[0]);
      expect(await statusOf(fresh[0] as string)).toBe(200);
    });

    it('observation deleted: none of its URLs opens anything', async () => {
      const hiker = await signedInClient();
      const { observationId, photoUrl, thumbnailUrl } = await identifyAs(
        hiker.uid,
        await nextPhoto(),
      );
      const deleted = await callWithToken('deleteObservation', await tokenOf(hiker), {
        observationId,
      });
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
      for (const url of [photoUrl, thumbnailUrl]) expect(await statusOf(url)).toBe(403);
      expect(await violations()).toEqual([]);
    });
  },
);

describe(
  'training tokens written before the HMAC key are replaced (issue 20, finding 13)',
  SLOW_START,
  () => {
    /** The token ingestion wrote before the HMAC key: anyone can compute it from the name. */
    const guessableToken = (name: string) => {
      const h = createHash('sha256').update(`wildlens-download-token:${name}`).digest('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
    };

    /** A training image as an old ingestion left it: object and record under `tokenFor(name)`. */
    async function legacyImage(
      tokenFor: (name: string) => string,
    ): Promise<{ imageId: string; name: string; url: string }> {
      const imageId = createHash('sha256').update(randomUUID()).digest('hex');
      const name = `training/renard/${imageId}.jpg`;
      const token = tokenFor(name);
      const url = downloadUrl(adminBucket().name, name, token);
      await adminBucket()
        .file(name)
        .save(await nextPhoto(), {
          resumable: false,
          contentType: 'image/jpeg',
          metadata: {
            cacheControl: 'private, max-age=31536000',
            metadata: { firebaseStorageDownloadTokens: token },
          },
        });
      await adminDb().doc(`trainingImages/${imageId}`).set({
        speciesId: 'renard',
        storagePath: name,
        imageUrl: url,
        source: 'upload',
        createdAt: new Date(),
      });
      return { imageId, name, url };
    }

    /** The functions' postdeploy hook of firebase.json, run as firebase-tools runs it. */
    async function runPostdeployHook(): Promise<string> {
      const config = JSON.parse(readFileSync(path.join(REPO_ROOT, 'firebase.json'), 'utf8')) as {
        functions: { source: string; postdeploy?: string[] }[];
      };
      const functions = config.functions[0];
      const hooks = functions?.postdeploy ?? [];
      expect(hooks.length).toBeGreaterThan(0);
      let output = '';
      for (const hook of hooks) {
        const { stdout } = await promisify(execFile)('sh', ['-c', hook], {
          env: {
            ...process.env,
            GCLOUD_PROJECT: PROJECT_ID,
            PROJECT_DIR: REPO_ROOT,
            RESOURCE_DIR: path.join(REPO_ROOT, functions?.source ?? 'functions'),
          },
        });
        output += stdout;
      }
      return output;
    }

    it('the deploy hook replaces guessable tokens; a second run changes nothing', async () => {
      // The old ingestion's token: anyone who knows an object's name can open it.
      const guessable = await legacyImage(guessableToken);
      const random = await legacyImage(() => randomUUID());
      const current = await uploadTrainingImage(await nextPhoto());
      const guessedUrl = downloadUrl(
        adminBucket().name,
        guessable.name,
        guessableToken(guessable.name),
      );
      expect(guessedUrl).toBe(guessable.url);
      expect(await statusOf(guessedUrl)).toBe(200);

      const output = await runPostdeployHook();
      expect(output).toMatch(/Jetons de téléchargement des images d’entraînement renouvelés/);
      expect(await statusOf(guessedUrl)).toBe(403);
      const key = await trainingTokenKey(adminDb());
      for (const { imageId, name } of [guessable, random]) {
        const record = await adminDb().doc(`trainingImages/${imageId}`).get();
        const url = String(record.get('imageUrl'));
        expect(downloadTokenOf(url)).toBe(downloadTokenFor(key, name));
        expect(await statusOf(url)).toBe(200);
      }
      expect(await violations()).toEqual([]);

      // Idempotent: nothing is rewritten the second time (same object generations, same URLs).
      const state = async () =>
        Promise.all(
          [guessable.imageId, random.imageId, current].map(async (imageId) => {
            const record = await adminDb().doc(`trainingImages/${imageId}`).get();
            const [metadata] = await adminBucket()
              .file(String(record.get('storagePath')))
              .getMetadata();
            return [record.get('imageUrl'), metadata.generation, metadata.metageneration];
          }),
        );
      const before = await state();
      expect(await runPostdeployHook()).toMatch(/Migrations : rien à faire/);
      expect(await state()).toEqual(before);
    });
  },
);
