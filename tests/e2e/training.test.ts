import { createHash } from 'node:crypto';
import { AUTO_BACKBONE_ID, resolveBackboneId } from '@wildlens/model';
import { FunctionsError, httpsCallable } from 'firebase/functions';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCHMARK, isBenchmarkGroup } from '../../trainer/src/benchmark.js';
import {
  CALL_OPTIONS,
  adminBucket,
  adminDb,
  client,
  closeAdmin,
  ingestionRecord,
  signedInClient,
  type Client,
  downloadObject,
} from './support.js';
import {
  devSubset,
  runFinished,
  syntheticSubset,
  uploadRecord,
  uploadThroughUrls,
  type LocalPhoto,
} from './training-support.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

afterAll(closeAdmin);

const SPECIES = ['castor', 'lynx', 'ours', 'renard'];
let admin: Client;
let photos: LocalPhoto[];

beforeAll(async () => {
  admin = await signedInClient({ admin: true });
  const real = devSubset(SPECIES, 6);
  if (!real) {
    console.warn(
      '../shared/datasets/footprints-dev absent : entraînement testé sur des classes synthétiques (sharp).',
    );
  }
  photos = real ?? (await syntheticSubset(SPECIES, 6));
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    return err instanceof FunctionsError ? err.code : String(err);
  }
}

const call = <T = unknown>(c: Client, name: string, data: unknown = {}) =>
  httpsCallable<unknown, T>(c.functions, name, CALL_OPTIONS)(data).then((r) => r.data);

describe('admin callables: access', () => {
  it('refuses anonymous callers and signed-in non-admins', async () => {
    const files = [{ name: 'a.jpg', size: 10, contentType: 'image/jpeg' }];
    expect(await codeOf(call(client(), 'createUploadUrls', { speciesId: 'renard', files }))).toBe(
      'functions/unauthenticated',
    );
    const user = await signedInClient();
    for (const name of ['createUploadUrls', 'startTrainingRun', 'rollbackModel']) {
      expect(await codeOf(call(user, name, { speciesId: 'renard', files }))).toBe(
        'functions/permission-denied',
      );
    }
  });

  it('validates species, type and size before minting URLs', async () => {
    const bad = (speciesId: string, contentType: string, size = 100) =>
      codeOf(
        call(admin, 'createUploadUrls', { speciesId, files: [{ name: 'x', size, contentType }] }),
      );
    expect(await bad('dragon', 'image/jpeg')).toBe('functions/invalid-argument');
    expect(await bad('renard', 'text/plain')).toBe('functions/invalid-argument');
    expect(await bad('renard', 'image/png', 21 * 1024 * 1024)).toBe('functions/invalid-argument');
  });
});

describe('uploads through createUploadUrls are ingested', () => {
  it('accepts, flags duplicates, rejects corrupt files and wrong types; relabel and delete', async () => {
    const photo = photos[0] as LocalPhoto;
    const variant = await sharp(photo.data).rotate(90).jpeg().toBuffer();
    const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///ywAAAAAAQABAAACAUwAOw==', 'base64');
    const { uploads } = await uploadThroughUrls(admin, 'loup', [
      { name: 'piste.jpg', data: variant },
      { name: 'piste.jpg', data: variant },
      { name: 'casse.jpg', data: Buffer.from('pas une image') },
      { name: 'anim.png', data: gif, contentType: 'image/png' },
    ]);
    expect(new Set(uploads.map((u) => u.objectName)).size).toBe(4);
    const [accepted, duplicate, corrupt, wrongType] = await Promise.all(
      uploads.map((u) => uploadRecord(u.uploadId)),
    );
    const hash = createHash('sha256').update(variant).digest('hex');
    expect([accepted?.status, duplicate?.status].sort()).toEqual(['accepted', 'duplicate']);
    expect(corrupt).toMatchObject({ status: 'rejected' });
    expect(wrongType).toMatchObject({ status: 'rejected', reasonCode: 'unsupported_format' });
    expect(String(corrupt?.reason)).toMatch(/[a-zé]/);

    const image = await adminDb().doc(`trainingImages/${hash}`).get();
    expect(image.get('uploaderUid')).toBe((admin as Client & { uid: string }).uid);
    const thumb = await fetch(image.get('imageUrl') as string);
    expect(thumb.status).toBe(200);
    expect((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).format).toBe('jpeg');

    await call(admin, 'relabelTrainingImage', { imageId: hash, speciesId: 'coyote' });
    const moved = await adminDb().doc(`trainingImages/${hash}`).get();
    expect(moved.get('storagePath')).toBe(`training/coyote/${hash}.jpg`);
    expect((await adminBucket().file(`training/coyote/${hash}.jpg`).exists())[0]).toBe(true);
    expect((await adminBucket().file(`training/loup/${hash}.jpg`).exists())[0]).toBe(false);
    expect((await fetch(moved.get('imageUrl') as string)).status).toBe(200);

    expect(await call(admin, 'deleteTrainingImage', { imageId: hash })).toEqual({ deleted: true });
    expect((await adminDb().doc(`trainingImages/${hash}`).get()).exists).toBe(false);
    expect((await adminBucket().file(`training/coyote/${hash}.jpg`).exists())[0]).toBe(false);
  });
});

/** Per domain, how many of `photos` the frozen benchmark holds (their group is their hash). */
function expectedBenchmark(list: { data: Buffer; domain: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of list)
    if (isBenchmarkGroup(createHash('sha256').update(p.data).digest('hex')))
      counts[p.domain] = (counts[p.domain] ?? 0) + 1;
  return counts;
}

describe('training runs', () => {
  let firstVersion: string;
  let benchmarkByDomain: Record<string, number>;
  const benchmarkTotal = () => Object.values(benchmarkByDomain).reduce((a, b) => a + b, 0);

  it('trains a model queued → succeeded, refuses a concurrent run, activates the model', async () => {
    // Per species: the first 3 photos through the admin pages' upload URLs (domain unspecified),
    // the others as `npm run import-dataset` sends field photos (domain metadata).
    const domains: { data: Buffer; domain: string }[] = [];
    for (const speciesId of SPECIES) {
      const files = photos.filter((p) => p.speciesId === speciesId);
      const { uploads } = await uploadThroughUrls(admin, speciesId, files.slice(0, 3));
      const records = await Promise.all(uploads.map((u) => uploadRecord(u.uploadId)));
      for (const r of records) expect(['accepted', 'duplicate']).toContain(r.status);
      for (const [i, file] of files.slice(3).entries()) {
        const name = `incoming/${speciesId}/lot-terrain/${i}-${file.name}`;
        await adminBucket()
          .file(name)
          .save(file.data, { resumable: false, metadata: { metadata: { domain: 'field' } } });
        expect((await ingestionRecord(name)).status).toBe('accepted');
      }
      domains.push(
        ...files.map((f, i) => ({ data: f.data, domain: i < 3 ? 'unspecified' : 'field' })),
      );
    }
    benchmarkByDomain = expectedBenchmark(domains);
    // These photos put some of both domains in the benchmark (computed, not assumed).
    expect(Object.keys(benchmarkByDomain).sort()).toEqual(['field', 'unspecified']);
    const { runId } = await call<{ runId: string }>(admin, 'startTrainingRun', {});
    const created = await adminDb().doc(`trainingRuns/${runId}`).get();
    expect(['queued', 'running']).toContain(created.get('status'));
    expect(created.get('requestedBy')).toBe((admin as Client & { uid: string }).uid);
    expect(await codeOf(call(admin, 'startTrainingRun', {}))).toBe('functions/failed-precondition');

    const run = await runFinished(runId);
    expect(run).toMatchObject({ status: 'succeeded', phase: 'done', promoted: true });
    expect((run.curve as unknown[]).length).toBeGreaterThan(0);
    firstVersion = run.modelVersion as string;
    // Trained without the frozen benchmark, scored on it per domain; first model: promoted.
    expect(run).toMatchObject({
      datasetSize: photos.length,
      benchmarkSize: benchmarkTotal(),
      trainingSize: photos.length - benchmarkTotal(),
      benchmark: { id: BENCHMARK.id, fraction: BENCHMARK.fraction, active: null },
      promotion: { promote: true, rule: 'first-model', comparedWith: null, test: null },
    });
    const figures = (run.benchmark as { candidate: Record<string, unknown> }).candidate;
    expect(figures.n).toBe(benchmarkTotal());
    for (const [domain, n] of Object.entries(benchmarkByDomain))
      expect((figures.byDomain as Record<string, Record<string, number>>)[domain]).toMatchObject({
        n,
        top1: expect.any(Number),
        top3: expect.any(Number),
        identifiedPrecision: expect.any(Number),
        identifiedCoverage: expect.any(Number),
        falseRejectRate: expect.any(Number),
      });
    const active = await adminDb().doc('config/activeModel').get();
    expect(active.get('version')).toBe(firstVersion);
    const model = await adminDb().doc(`models/${firstVersion}`).get();
    expect(model.get('status')).toBe('active');
    expect(model.get('metrics')).toMatchObject({
      n: benchmarkTotal(),
      trainCount: photos.length - benchmarkTotal(),
      top1: figures.top1,
      byDomain: figures.byDomain,
    });
    expect(model.get('benchmark.id')).toBe(BENCHMARK.id);
    expect(model.get('promotion.rule')).toBe('first-model');
    // The trainer resolved backbone `auto` as this machine does (the dev/CI machine has the
    // MobileNetV1 weights in ../shared: the ensemble), and the functions serve that model.
    const expected = await resolveBackboneId(AUTO_BACKBONE_ID);
    expect(model.get('backbone.id')).toBe(expected.id);
    const manifestBytes = await downloadObject(`models/${firstVersion}/manifest.json`);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as {
      backbone: { id: string };
      training: { backboneChoice: string };
    };
    expect(manifest.backbone.id).toBe(expected.id);
    expect(manifest.training.backboneChoice).toMatch(/^auto: /);
    const user = await signedInClient();
    const identified = await httpsCallable<unknown, { model: { version: string }; top: unknown[] }>(
      user.functions,
      'identifyFootprint',
      { timeout: HANG_BOUND_MS },
    )({ photo: (photos[0] as LocalPhoto).data.toString('base64') });
    expect(identified.data.model.version).toBe(firstVersion);
    expect(identified.data.top.length).toBeGreaterThan(0);
  });

  it('a crashing trainer ends failed with a French message', async () => {
    const { runId } = await call<{ runId: string }>(admin, 'startTrainingRun', {
      simulateCrashAt: 'embedding',
    });
    const run = await runFinished(runId);
    expect(run.status).toBe('failed');
    expect(String(run.error)).toMatch(/Échec de l’entraînement/);
  });

  it('retrains from cached embeddings, keeps the active model on a tie and rolls back', async () => {
    const { runId } = await call<{ runId: string }>(admin, 'startTrainingRun', {});
    const run = await runFinished(runId);
    expect(run.status).toBe('succeeded');
    // Same photos as the first run: every view comes from the cache and no photo is fetched.
    expect(run.embedding).toMatchObject({ photoDownloads: 0, computedViews: 0 });
    expect((run.embedding as { cachedViews: number }).cachedViews).toBeGreaterThan(0);
    // The same training photos give the same model: both answer every benchmark photo alike, a
    // tie within noise, so the active model stays; both are scored on the same photos.
    const n = benchmarkTotal();
    expect(run).toMatchObject({
      promoted: false,
      promotion: {
        promote: false,
        rule: 'tie',
        comparedWith: firstVersion,
        activeSawBenchmark: false,
        test: { n, candidateOnly: 0, activeOnly: 0, pBetter: 0.5, pWorse: 0.5 },
      },
    });
    const { candidate, active } = run.benchmark as {
      candidate: Record<string, unknown>;
      active: { version: string; figures: Record<string, unknown> };
    };
    expect(active.version).toBe(firstVersion);
    expect(active.figures).toMatchObject({ n: candidate.n, top1: candidate.top1 });
    const test = (run.promotion as { test: { candidateTop1: number; activeTop1: number } }).test;
    expect(test.candidateTop1).toBe(test.activeTop1);
    for (const [domain, count] of Object.entries(benchmarkByDomain))
      expect(
        (run.promotion as { byDomain: Record<string, unknown> }).byDomain[domain],
      ).toMatchObject({ n: count, candidateOnly: 0, activeOnly: 0 });
    expect(String(run.notPromotedReason)).toMatch(/^Égalité dans le bruit/);
    expect((await adminDb().doc('config/activeModel').get()).get('version')).toBe(firstVersion);
    const second = run.modelVersion as string;
    await call(admin, 'promoteModel', { version: second });
    expect((await adminDb().doc('config/activeModel').get()).get('version')).toBe(second);
    expect(await call(admin, 'rollbackModel', {})).toEqual({ active: firstVersion });
    expect((await adminDb().doc(`models/${second}`).get()).get('status')).toBe('retired');
    expect(await codeOf(call(admin, 'promoteModel', { version: 'inexistant' }))).toBe(
      'functions/not-found',
    );
  });

  it('replaces an active model that can no longer be loaded, and says so', async () => {
    // The active model's head is gone from Storage: it serves no one any more.
    await adminBucket().file(`models/${firstVersion}/head.bin`).delete();
    const { runId } = await call<{ runId: string }>(admin, 'startTrainingRun', {});
    const run = await runFinished(runId);
    expect(run).toMatchObject({
      status: 'succeeded',
      promoted: true,
      promotion: { rule: 'active-unloadable', comparedWith: firstVersion },
      benchmark: { active: null },
    });
    expect(String((run.promotion as { reasonFr: string }).reasonFr)).toMatch(
      new RegExp(`« ${firstVersion} » ne peut pas être chargé`),
    );
    expect((await adminDb().doc('config/activeModel').get()).get('version')).toBe(run.modelVersion);
  });
});
