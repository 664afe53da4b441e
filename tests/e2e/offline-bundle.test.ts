/**
 * Offline identification (issue 22) against the emulators: the bundle exported when a model
 * becomes active, `getOfflineBundle` and its download URLs, rollback, the admin export, and the
 * try page's « Hors ligne » switch in Chromium identifying with the network cut.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { httpsCallable, type FunctionsError } from 'firebase/functions';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFootprintModelFromDir, type FootprintModel, type Prediction } from '@wildlens/model';
import type { OfflineBundleResponse } from '../../functions/src/handlers/offline-bundle.js';
import { buildHosting } from '../../scripts/build-hosting.js';
import { NEEDS } from '../requirements.js';
import { hasChromium, launchChromium, openPage, pageUrl, screenshot } from './browser.js';
import {
  FOOTPRINTS_DIR,
  SHARED_DIR,
  footprintPhotos,
  hasFootprints,
  installFixtureModel,
  syntheticFootprint,
  trainFixtureModel,
  type FixtureModel,
} from './model-fixture.js';
import {
  CALL_OPTIONS,
  FUNCTIONS_ORIGIN,
  adminBucket,
  adminDb,
  client,
  closeAdmin,
  eventually,
  signedInClient,
  type Client,
  downloadObject,
} from './support.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

const FIELD_DIR = path.join(SHARED_DIR, 'datasets', 'footprints-field-dev');
const FIXTURE_PER_SPECIES = 4;

afterAll(closeAdmin);

const getBundle = (c: Client) =>
  httpsCallable<Record<string, never>, OfflineBundleResponse>(c.functions, 'getOfflineBundle', {
    timeout: HANG_BOUND_MS,
  });

async function errorOf(promise: Promise<unknown>): Promise<FunctionsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').toBeDefined();
  return err as FunctionsError;
}

/** The active model's bundle as getOfflineBundle gives it, once its export is complete. */
async function activeBundle(c: Client, version: string): Promise<OfflineBundleResponse> {
  return eventually(
    async () => {
      const { data } = await getBundle(c)({}).catch(() => ({ data: undefined }));
      return data?.version === version ? data : undefined;
    },
    { intervalMs: 1000, what: `the offline bundle of ${version}` },
  );
}

/** Registers `version` (the fixture's files under models/{version}/) as a promotable model. */
async function registerModel(fixture: FixtureModel, version: string): Promise<void> {
  const bucket = adminBucket();
  for (const name of ['manifest.json', 'head.bin'])
    await bucket
      .file(`models/${version}/${name}`)
      .save(await readFile(path.join(fixture.dir, name)), { resumable: false });
  await adminDb()
    .collection('models')
    .doc(version)
    .set({ version, status: 'candidate', exported: true, createdAt: new Date() });
}

let fixture: FixtureModel;

beforeAll(async () => {
  fixture = await trainFixtureModel({ perSpecies: FIXTURE_PER_SPECIES });
});

describe('offline bundle export and getOfflineBundle', () => {
  let user: Client;

  beforeAll(async () => {
    user = await signedInClient();
    await installFixtureModel(adminBucket(), adminDb(), fixture);
  });

  it('exports the bundle when the model becomes active and hands out checked download URLs', async () => {
    const bundle = await activeBundle(user, fixture.version);
    expect(bundle.formatVersion).toBe(1);
    expect(bundle.manifest.version).toBe(fixture.version);
    expect(bundle.files.map((f) => f.path)).toEqual(bundle.manifest.files.map((f) => f.path));
    expect(bundle.totalSize).toBe(bundle.files.reduce((sum, f) => sum + f.size, 0));
    // The npm-shipped backbone as shipped (uint8): a few megabytes, far under the 25 MB target.
    expect(bundle.totalSize).toBeLessThan(25 * 1024 * 1024);
    for (const file of bundle.files) {
      const res = await fetch(file.url);
      expect(res.status, file.path).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.length, file.path).toBe(file.size);
      expect(createHash('sha256').update(bytes).digest('hex'), file.path).toBe(file.sha256);
    }
    // The URL is the same for every caller and call (HMAC token of the object name).
    const again = await getBundle(await signedInClient())({});
    expect(again.data.files.map((f) => f.url)).toEqual(bundle.files.map((f) => f.url));
    const speciesFile = bundle.files.find((f) => f.path === 'species.json')!;
    const species = JSON.parse(await (await fetch(speciesFile.url)).text()) as {
      species: { speciesId: string; nameFr?: string; exampleImage?: unknown }[];
    };
    expect(species.species.map((s) => s.speciesId)).toEqual(fixture.labels);
    expect(species.species.every((s) => s.nameFr && s.exampleImage === undefined)).toBe(true);
  });

  it('is for signed-in users only and takes no parameter', async () => {
    expect((await errorOf(getBundle(client())({}))).code).toBe('functions/unauthenticated');
    const err = await errorOf(
      httpsCallable(user.functions, 'getOfflineBundle', CALL_OPTIONS)({ version: 'autre' }),
    );
    expect(err.code).toBe('functions/invalid-argument');
    expect(err.message).toMatch(/Champ inconnu|aucun paramètre/);
  });

  it('exports on demand for admins only, idempotently', async () => {
    const exportWith = (c: Client) =>
      httpsCallable<{ version?: string; force?: boolean }, { status: string; totalSize: number }>(
        c.functions,
        'exportOfflineBundle',
        { timeout: HANG_BOUND_MS },
      );
    expect((await errorOf(exportWith(user)({}))).code).toBe('functions/permission-denied');
    const admin = await signedInClient({ admin: true });
    const present = await exportWith(admin)({});
    expect(present.data.status).toBe('present');
    const before = await downloadObject(`models/${fixture.version}/bundle/bundle.json`);
    const forced = await exportWith(admin)({ version: fixture.version, force: true });
    expect(forced.data).toMatchObject({ status: 'exported', totalSize: present.data.totalSize });
    // Deterministic: the forced export wrote the same bytes.
    const after = await downloadObject(`models/${fixture.version}/bundle/bundle.json`);
    expect(after.equals(before)).toBe(true);
    const missing = await errorOf(exportWith(admin)({ version: 'pas-de-modele' }));
    expect(missing.code).toBe('functions/not-found');
  });

  it('follows the active pointer: a rollback hands out the previous bundle again', async () => {
    const admin = await signedInClient({ admin: true });
    const [first, second] = ['offline-a', 'offline-b'];
    // The active fixture becomes a registry entry too (promotion retires the active model).
    await adminDb()
      .collection('models')
      .doc(fixture.version)
      .set({ version: fixture.version, status: 'active' });
    await registerModel(fixture, first);
    await registerModel(fixture, second);
    const promote = httpsCallable(admin.functions, 'promoteModel', { timeout: HANG_BOUND_MS });
    await promote({ version: first });
    expect((await activeBundle(user, first)).version).toBe(first);
    await promote({ version: second });
    const secondBundle = await activeBundle(user, second);
    expect(
      secondBundle.files.every((f) =>
        f.url.includes(encodeURIComponent(`models/${second}/bundle/`)),
      ),
    ).toBe(true);
    await httpsCallable(admin.functions, 'rollbackModel', { timeout: HANG_BOUND_MS })({});
    const rolledBack = await activeBundle(user, first);
    expect(
      rolledBack.files.every((f) => f.url.includes(encodeURIComponent(`models/${first}/bundle/`))),
    ).toBe(true);
  });
});

interface ManifestEntry {
  label: string;
  file: string;
}

/**
 * `count` photos the fixture model never saw, half crops (after its training ones), half field
 * photos, spread evenly over each dataset's sorted list, then two of them enlarged to a phone's
 * 4032 × 3024.
 */
async function unseenPhotos(count: number): Promise<{ name: string; file: string }[]> {
  const trained = new Set((await footprintPhotos(FIXTURE_PER_SPECIES)).map((p) => p.file));
  const picked: { name: string; file: string }[] = [];
  for (const dir of [FOOTPRINTS_DIR, FIELD_DIR]) {
    const { images } = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
      images: ManifestEntry[];
    };
    const files = images
      .map((i) => path.join(dir, i.file))
      .filter((f) => !trained.has(f))
      .sort();
    const take = count / 2;
    const step = Math.floor(files.length / take);
    for (let i = 0; i < take; i++)
      picked.push({ name: path.relative(SHARED_DIR, files[i * step]!), file: files[i * step]! });
  }
  // Two phone-sized photos (which sharp decodes at 1/4 on load; so does the page, with
  // WebCodecs' ImageDecoder), one stored sideways with an EXIF orientation.
  for (const [i, orientation] of [1, 6].entries()) {
    const source = picked[picked.length - 1 - i]!;
    const file = path.join(os.tmpdir(), `wildlens-offline-phone-${i}.jpg`);
    const [width, height] = orientation === 6 ? [3024, 4032] : [4032, 3024];
    await writeFile(
      file,
      await sharp(source.file)
        .resize(width, height, { fit: 'fill' })
        .jpeg({ quality: 90 })
        .withMetadata({ orientation })
        .toBuffer(),
    );
    picked.push({ name: `${source.name} (4032×3024, orientation ${orientation})`, file });
  }
  return picked;
}

describe.skipIf(!hasChromium)('the try page identifies offline in Chromium', NEEDS.chromium, () => {
  let browser: Browser;
  let server: FootprintModel;

  beforeAll(async () => {
    await buildHosting({ quiet: true });
    await installFixtureModel(adminBucket(), adminDb(), fixture);
    await activeBundle(await signedInClient(), fixture.version);
    server = await loadFootprintModelFromDir(fixture.dir);
    browser = await launchChromium();
  });

  afterAll(async () => {
    server?.dispose();
    await browser?.close();
  });

  // The server's answers come from the functions' own code (FootprintModel.predict on the same
  // model files) run here; with no ../shared, synthetic photos stand in for the real ones.
  it(
    hasFootprints
      ? 'answers 20 real photos (crops, field and phone-sized photos) with the network cut, like the server'
      : 'answers synthetic photos with the network cut, like the server',
    async () => {
      const session = await openPage(browser);
      const { page, context } = session;
      try {
        await page.goto(pageUrl('/try.html'));
        await page.getByRole('switch', { name: 'Hors ligne' }).check();
        await page.locator('#offline-mode[data-state="ready"]').waitFor({ timeout: HANG_BOUND_MS });
        expect(await page.locator('#offline-status').textContent()).toMatch(
          new RegExp(`Mode hors ligne prêt : modèle ${fixture.version}`),
        );

        // Cut the network: from here on nothing may be sent to identify (no call to the
        // functions, no upload, no POST to the site); the Firebase SDKs' own background
        // traffic (a Firestore channel closing) fails harmlessly and is not counted.
        await context.setOffline(true);
        const requests: string[] = [];
        const apiOrigins = [
          new URL(FUNCTIONS_ORIGIN).origin,
          `http://${process.env.FIREBASE_STORAGE_EMULATOR_HOST}`,
        ];
        page.on('request', (r) => {
          const url = new URL(r.url());
          if (
            apiOrigins.includes(url.origin) ||
            (url.protocol.startsWith('http') && r.method() !== 'GET')
          )
            if (!url.pathname.includes('google.firestore.v1.Firestore/'))
              requests.push(`${r.method()} ${r.url()}`);
        });

        const dir = await mkdtemp(path.join(os.tmpdir(), 'wl-offline-'));
        const photos = hasFootprints
          ? await unseenPhotos(18)
          : await Promise.all(
              Array.from({ length: 6 }, async (_, i) => {
                const file = path.join(dir, `synthetique-${i}.jpg`);
                await writeFile(file, await syntheticFootprint(i % 3, 7 + i));
                return { name: `synthetic-${i}`, file };
              }),
            );
        const rows: {
          name: string;
          server: Prediction;
          top1: string;
          p1: number;
          pServer: number;
        }[] = [];
        for (const photo of photos) {
          await page.setInputFiles('#photo', photo.file);
          await page.getByRole('button', { name: 'Identifier' }).click();
          await page
            .locator('#try-status[data-tone="success"]', { hasText: 'hors ligne' })
            .waitFor({ timeout: HANG_BOUND_MS });
          const first = page.locator('#top li').first();
          const top1 = (await first.getAttribute('data-species')) as string;
          const p1 = Number(
            await first.locator('meter').evaluate((m) => (m as HTMLMeterElement).value),
          );
          const expected = await server.predict(await readFile(photo.file));
          const serverTop = expected.top[0]!;
          rows.push({
            name: photo.name,
            server: expected,
            top1,
            p1,
            pServer: serverTop.probability,
          });
        }
        await screenshot(page, 'essayer-hors-ligne');
        expect(requests, 'requests sent while offline').toEqual([]);

        const agree = rows.filter((r) => r.top1 === r.server.top[0]!.speciesId).length;
        const meanDiff = rows.reduce((s, r) => s + Math.abs(r.p1 - r.pServer), 0) / rows.length;
        const report = rows.map(
          (r) =>
            `${r.name}: ${r.top1} ${r.p1.toFixed(4)} / serveur ${r.server.top[0]!.speciesId} ${r.pServer.toFixed(4)}`,
        );
        console.log(
          `Hors ligne : top-1 identique ${agree}/${rows.length}, écart moyen de la probabilité du premier ${meanDiff.toFixed(4)}`,
        );
        // Same pixels and kernels as the server for these photo sizes (see pipeline.test.ts):
        // allow one near-tie to flip, and a small mean gap of the top probability.
        expect(agree, report.join('\n')).toBeGreaterThanOrEqual(rows.length - 1);
        expect(meanDiff, report.join('\n')).toBeLessThanOrEqual(0.02);
        expect(session.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );

  it('refuses a tampered cached bundle, then downloads it again', async () => {
    const { page, context } = await openPage(browser);
    try {
      await page.goto(pageUrl('/try.html'));
      const toggle = page.getByRole('switch', { name: 'Hors ligne' });
      await toggle.check();
      await page.locator('#offline-mode[data-state="ready"]').waitFor({ timeout: HANG_BOUND_MS });
      // Corrupt one cached weight file, as a disk error or a tampering would.
      const corrupted = await page.evaluate(async () => {
        const cache = await caches.open('wildlens-offline-bundle');
        for (const request of await cache.keys()) {
          if (!request.url.endsWith('/backbone/0/weights.bin')) continue;
          const bytes = new Uint8Array(await (await cache.match(request))!.arrayBuffer());
          bytes[100] = (bytes[100]! + 1) % 256;
          await cache.put(request, new Response(bytes));
          return request.url;
        }
        return null;
      });
      expect(corrupted).not.toBeNull();
      // A fresh page loads the bundle from the cache: the check refuses it.
      await page.reload();
      await page.getByRole('switch', { name: 'Hors ligne' }).check();
      await page.locator('#offline-mode[data-state="error"]').waitFor({ timeout: HANG_BOUND_MS });
      expect(await page.locator('#offline-status').textContent()).toMatch(
        /altéré \(fichier backbone\/0\/weights\.bin\)/,
      );
      // The bad copy was dropped: switching on again downloads a good one.
      await page.getByRole('switch', { name: 'Hors ligne' }).check();
      await page.locator('#offline-mode[data-state="ready"]').waitFor({ timeout: HANG_BOUND_MS });
    } finally {
      await context.close();
    }
  });
});
