/**
 * The hosted admin pages in real headless Chromium against the Emulator Suite: sign-in and
 * admin gate, folder upload with live ingestion status, dataset review (counts, thumbnails,
 * relabel, delete, rejected files), a training run followed live, promote/rollback, and the
 * public "try it" page. Screenshots of each page land in .artifacts/screenshots/.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { FieldPath, FieldValue } from 'firebase-admin/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHosting } from '../../scripts/build-hosting.js';
import {
  LAPTOP,
  TABLET,
  hasChromium,
  launchChromium,
  openPage,
  pageUrl,
  screenshot,
  signIn,
  submitSignIn,
  type PageSession,
} from './browser.js';
import { decidePromotion } from '../../trainer/src/promotion.js';
import { FOOTPRINTS_DIR, hasFootprints, trainFixtureModel } from './model-fixture.js';
import {
  adminBucket,
  adminAuth,
  adminDb,
  closeAdmin,
  eventually,
  signedInClient,
} from './support.js';
import { syntheticSubset, uploadRecord, uploadThroughUrls } from './training-support.js';
import { NEEDS } from '../requirements.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

if (!hasChromium) {
  console.warn(
    'Chromium absent (/usr/bin/chromium) : tests des pages d’administration ignorés. ' +
      'Installez-le avec « apt-get install -y chromium ».',
  );
}
if (!hasFootprints) {
  console.warn(
    '../shared/datasets/footprints-dev absent : le dépôt d’un dossier de vraies photos est ignoré ' +
      '(le reste utilise des images synthétiques).',
  );
}

const PASSWORD = 'mot-de-passe-de-test';
const RUN_ID = randomUUID().slice(0, 8);

async function createUser(admin: boolean): Promise<{ email: string; uid: string }> {
  const email = `pages-${admin ? 'admin' : 'user'}-${RUN_ID}@example.org`;
  const user = await adminAuth().createUser({ email, password: PASSWORD });
  if (admin) await adminAuth().setCustomUserClaims(user.uid, { admin: true });
  return { email, uid: user.uid };
}

/** A dropped folder: the last 8 real photos of one species, a fake JPEG and a text file. */
function photoFolder(): { dir: string; photos: string[] } {
  const manifest = JSON.parse(readFileSync(path.join(FOOTPRINTS_DIR, 'manifest.json'), 'utf8')) as {
    images: { label: string; file: string }[];
  };
  const renard = manifest.images.filter((i) => i.label === 'Renard').slice(-8);
  const dir = path.join(os.tmpdir(), `wildlens-pages-${RUN_ID}`, 'Renard');
  mkdirSync(dir, { recursive: true });
  const photos = renard.map((entry) => {
    const name = path.basename(entry.file);
    copyFileSync(path.join(FOOTPRINTS_DIR, entry.file), path.join(dir, name));
    return name;
  });
  writeFileSync(path.join(dir, 'pas-une-photo.jpg'), 'Ceci est du texte, pas une image.\n');
  writeFileSync(path.join(dir, 'notes.txt'), 'notes de terrain\n');
  return { dir, photos };
}

async function rowState(page: Page, fileName: string): Promise<string | null> {
  return page
    .locator('#file-rows tr', { has: page.locator('td.file-name', { hasText: fileName }) })
    .getAttribute('data-state');
}

describe.skipIf(!hasChromium)('admin pages in headless Chromium', NEEDS.chromium, () => {
  let browser: Browser;
  let admin: PageSession;
  let adminEmail: string;

  beforeAll(async () => {
    await buildHosting({ quiet: true });
    browser = await launchChromium();
    ({ email: adminEmail } = await createUser(true));
    admin = await openPage(browser, LAPTOP);
  });

  afterAll(async () => {
    if (admin?.errors.length) console.warn('Erreurs de console (admin) :', admin.errors);
    await browser?.close();
    await closeAdmin();
  });

  it('refuses a signed-in user without the admin claim, on every admin page', async () => {
    const { email } = await createUser(false);
    const visitor = await openPage(browser);
    try {
      await signIn(visitor.page, email, PASSWORD);
      const refusal = visitor.page.locator('.refusal');
      await expect(refusal.textContent()).resolves.toMatch(/Accès refusé/);
      expect(await visitor.page.locator('#welcome').isHidden()).toBe(true);
      await screenshot(visitor.page, 'connexion-refusee');
      await visitor.page.goto(pageUrl('/upload.html'));
      await visitor.page.locator('.refusal').waitFor();
      expect(await visitor.page.locator('#app').isHidden()).toBe(true);
    } finally {
      await visitor.context.close();
    }
  });

  it('shows a French error for a wrong password and lets an admin in', async () => {
    const { page } = admin;
    await submitSignIn(page, adminEmail, 'mauvais-mot-de-passe');
    await page.locator('#signin-status[data-tone="error"]').waitFor();
    expect(await page.locator('#signin-status').textContent()).toMatch(/incorrect/);
    await screenshot(page, 'connexion');
    await signIn(page, adminEmail, PASSWORD);
    await page.locator('#welcome').waitFor({ state: 'visible' });
    expect(await page.locator('#welcome-text').textContent()).toContain(adminEmail);
    await screenshot(page, 'accueil');
  });

  it.skipIf(!hasFootprints)(
    'uploads a folder of real photos and follows each file to « accepté » or its refusal reason',
    { ...NEEDS.shared, timeout: HANG_BOUND_MS },
    async () => {
      const { page } = admin;
      const { dir, photos } = photoFolder();
      await page.goto(pageUrl('/upload.html'));
      await page.locator('#app').waitFor({ state: 'visible' });
      await page.locator('#species option[value="renard"]').waitFor({ state: 'attached' });
      await page.selectOption('#species', 'renard');
      // footprints-dev holds crops of the track.
      await page.getByLabel(/Gros plans/).check();
      await page.setInputFiles('#folder', dir);
      await expect.poll(() => page.locator('#file-rows tr').count()).toBe(photos.length + 2);
      expect(await rowState(page, 'notes.txt')).toBe('invalid');
      expect(
        await page.locator('#file-rows tr[data-state="invalid"] .reason').textContent(),
      ).toMatch(/Format non pris en charge/);
      await page.getByRole('button', { name: 'Envoyer les photos' }).click();
      await page.waitForFunction(
        (n) =>
          document.querySelectorAll(
            '#file-rows tr[data-state="accepted"], #file-rows tr[data-state="duplicate"], #file-rows tr[data-state="rejected"]',
          ).length === n,
        photos.length + 1,
        { timeout: HANG_BOUND_MS },
      );
      for (const name of photos) expect(await rowState(page, name)).toBe('accepted');
      expect(await rowState(page, 'pas-une-photo.jpg')).toBe('rejected');
      const reason = await page
        .locator('#file-rows tr[data-state="rejected"] .reason')
        .textContent();
      expect(reason?.trim().length).toBeGreaterThan(5);
      expect(await page.locator('#overall').getAttribute('value')).toBe('100');
      await screenshot(page, 'depot');

      const images = await adminDb()
        .collection('trainingImages')
        .where('speciesId', '==', 'renard')
        .where('sourceName', 'in', photos.slice(0, 8))
        .get();
      expect(images.size).toBe(photos.length);
      expect(new Set(images.docs.map((d) => d.get('domain')))).toEqual(new Set(['crop']));
      await page.locator('#next-step a[href="/training.html"]').waitFor();
    },
  );

  it('shows counts, thumbnails, rejected files; relabels and deletes a photo', async () => {
    const { page } = admin;
    const existing = await adminDb()
      .collection('trainingImages')
      .where('speciesId', '==', 'renard')
      .count()
      .get();
    if (existing.data().count < 3) {
      // Without ../shared: a few synthetic photos through the same upload URLs.
      const c = await signedInClient({ admin: true });
      const files = await syntheticSubset(['renard'], 4);
      const { uploads } = await uploadThroughUrls(c, 'renard', files);
      await Promise.all(uploads.map((u) => uploadRecord(u.uploadId)));
    }
    const renardCount = (
      await adminDb().collection('trainingImages').where('speciesId', '==', 'renard').count().get()
    ).data().count;
    // The first photo of the page as ingested before thumbnails existed: no thumbnail yet.
    const [legacy] = (
      await adminDb()
        .collection('trainingImages')
        .where('speciesId', '==', 'renard')
        .orderBy(FieldPath.documentId())
        .limit(1)
        .get()
    ).docs;
    if (!legacy) throw new Error('no renard image');
    await adminBucket()
      .file(String(legacy.get('thumbnailPath')))
      .delete();
    await legacy.ref.update({
      thumbnailPath: FieldValue.delete(),
      thumbnailUrl: FieldValue.delete(),
    });

    await page.goto(pageUrl('/dataset.html?espece=renard'));
    await page.locator('body[data-ready="true"]').waitFor();
    const shown = await page.locator('tr[data-species="renard"] .count').textContent();
    expect(Number(shown?.replace(/\s/g, ''))).toBe(renardCount);
    const thumbs = page.locator('#thumbs li.thumb');
    expect(await thumbs.count()).toBe(Math.min(renardCount, 24));
    // Thumbnails really load from Storage. They load lazily, once in view: how far down the
    // page they sit depends on the rejected files and the review queue above them, so bring
    // them into view first (as the page does for ?espece=, and as an admin scrolls).
    await thumbs.first().scrollIntoViewIfNeeded();
    await page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLImageElement>('#thumbs img')]
        .slice(0, 4)
        .every((img) => img.complete && img.naturalWidth > 0),
    );
    // Each photo shows its 256 px thumbnail, not the full photo; the one without (ingested
    // before thumbnails, until `npm run migrate`) its photo.
    const shownSources = await thumbs.evaluateAll((items) =>
      items.map((li) => [
        li.getAttribute('data-image-id') ?? '',
        li.querySelector('img')?.getAttribute('src') ?? '',
      ]),
    );
    expect(shownSources[0]?.[0]).toBe(legacy.id);
    for (const [imageId, src] of shownSources) {
      const record = await adminDb().doc(`trainingImages/${imageId}`).get();
      const expected = imageId === legacy.id ? 'imageUrl' : 'thumbnailUrl';
      expect(record.get(expected), `${expected} of ${imageId}`).toEqual(expect.any(String));
      expect(src, `the thumbnail of ${imageId}`).toBe(record.get(expected));
    }
    if (hasFootprints) {
      await expect(page.locator('#rejected-rows').textContent()).resolves.toContain(
        'pas-une-photo.jpg',
      );
    }
    await screenshot(page, 'jeu-de-donnees');
    await page.setViewportSize(TABLET);
    await screenshot(page, 'jeu-de-donnees-tablette');
    await page.setViewportSize(LAPTOP);

    const first = thumbs.first();
    const relabelId = await first.getAttribute('data-image-id');
    await first.locator('select').selectOption('loup');
    await first.getByRole('button', { name: 'Changer d’espèce' }).click();
    await page.locator('#thumbs-status[data-tone="success"]').waitFor();
    expect(await page.locator('#thumbs-status').textContent()).toMatch(/déplacée/);
    const relabelled = await adminDb().doc(`trainingImages/${relabelId}`).get();
    expect(relabelled.get('speciesId')).toBe('loup');
    // The photo without a thumbnail got one with its move.
    expect(relabelId).toBe(legacy.id);
    expect(relabelled.get('thumbnailPath')).toBe(`thumbnails/training/loup/${relabelId}.jpg`);
    expect((await fetch(String(relabelled.get('thumbnailUrl')))).status).toBe(200);

    const second = page.locator('#thumbs li.thumb').first();
    const deleteId = await second.getAttribute('data-image-id');
    expect(deleteId).not.toBe(relabelId);
    await second.getByRole('button', { name: 'Supprimer' }).click();
    await page.locator('#thumbs-status', { hasText: 'supprimée' }).waitFor();
    expect((await adminDb().doc(`trainingImages/${deleteId}`).get()).exists).toBe(false);
    await expect
      .poll(async () =>
        Number(
          (await page.locator('tr[data-species="renard"] .count').textContent())?.replace(
            /\s/g,
            '',
          ),
        ),
      )
      .toBe(renardCount - 2);
  });

  it('starts a training run, follows it live to the end and lists the new model', async () => {
    const { page } = admin;
    // A second class so that a model can be trained even when this file runs alone.
    const c = await signedInClient({ admin: true });
    const { uploads } = await uploadThroughUrls(c, 'lapin', await syntheticSubset(['lapin'], 4));
    await Promise.all(uploads.map((u) => uploadRecord(u.uploadId)));

    await page.goto(pageUrl('/training.html'));
    await page.locator('#app').waitFor({ state: 'visible' });
    const start = page.getByRole('button', { name: 'Lancer un entraînement' });
    await expect.poll(() => start.isEnabled(), { timeout: HANG_BOUND_MS }).toBe(true);
    await start.click();
    await page.locator('#training-status', { hasText: 'Entraînement lancé' }).waitFor();
    await expect.poll(() => start.isDisabled()).toBe(true);
    const run = page.locator('#run');
    const runId = await eventually(
      async () => (await run.getAttribute('data-run-id')) ?? undefined,
      { what: 'run shown' },
    );
    await page
      .locator(`#run[data-status="running"], #run[data-status="succeeded"]`)
      .waitFor({ timeout: HANG_BOUND_MS });
    await screenshot(page, 'entrainement-en-cours');
    await page
      .locator('#run[data-status="succeeded"], #run[data-status="failed"]')
      .waitFor({ timeout: HANG_BOUND_MS });
    const status = await run.getAttribute('data-status');
    expect(status, (await page.locator('#run-error').textContent()) ?? '').toBe('succeeded');
    expect(await page.locator('#run-phase').textContent()).toMatch(/Terminé|terminé/);
    const runDoc = await adminDb().doc(`trainingRuns/${runId}`).get();
    const version = runDoc.get('modelVersion') as string;
    // No model was active in this file: the first one is promoted, and the page says why.
    await page.locator('#run-promotion[data-rule="first-model"]').waitFor();
    expect(await page.locator('#run-promotion').textContent()).toBe(
      'Premier modèle : il n’y avait aucun modèle à comparer, il a été activé d’office.',
    );
    const modelRow = page.locator(`#model-rows tr[data-version="${version}"]`);
    await modelRow.waitFor();
    expect(await modelRow.locator('td.promotion').textContent()).toBe('Activé : premier modèle');
    expect(await start.isEnabled()).toBe(true);
    await screenshot(page, 'entrainement-termine');
    // Its benchmark figures, per domain (these uploads carry no domain: « non précisé »).
    await modelRow.getByRole('button', { name: `Détails du modèle ${version}` }).click();
    const overall = page.locator('#domain-figures tr[data-domain="all"]');
    await overall.waitFor();
    const n = runDoc.get('benchmarkSize') as number;
    expect(await overall.locator('td').first().textContent()).toBe(String(n));
    if (n > 0)
      expect(
        await page.locator('#domain-figures tr[data-domain="unspecified"] th').textContent(),
      ).toBe('Domaine non précisé');
  });

  it('promotes a model and rolls back, with the confusion matrix and recall shown', async () => {
    const { page } = admin;
    const fixture = await trainFixtureModel();
    const storagePrefix = `models/${fixture.version}/`;
    for (const name of readdirSync(fixture.dir)) {
      await adminBucket()
        .file(`${storagePrefix}${name}`)
        .save(readFileSync(path.join(fixture.dir, name)), { resumable: false });
    }
    const labels = fixture.labels;
    const rows = Object.fromEntries(
      labels.map((l, i) => [
        l,
        labels.map((_, j) => (i === j ? 3 : j === (i + 1) % labels.length ? 1 : 0)),
      ]),
    );
    const metrics = {
      top1: 0.75,
      top3: 0.95,
      macroF1: 0.72,
      n: labels.length * 4,
      perSpeciesRecall: Object.fromEntries(labels.map((l, i) => [l, 0.5 + (i % 5) * 0.1])),
      confusion: { labels, rows },
    };
    const candidate = `${fixture.version}-candidat`;
    const now = new Date();
    // The candidate was judged against the active model on 200 benchmark photos: a tie.
    const figures = (n: number, top1: number) => ({
      n,
      top1,
      top3: 0.9,
      macroF1: 0.7,
      ece: 0.05,
      identifiedCoverage: 0.4,
      identifiedPrecision: 0.925,
      falseRejectRate: 0.02,
    });
    const decision = decidePromotion({
      kind: 'scored',
      version: fixture.version,
      sawBenchmark: false,
      outcomes: Array.from({ length: 200 }, (_, i) => ({
        domain: i < 50 ? 'crop' : 'field',
        // 100 photos right for both; 4 field photos right for the candidate only, 1 for the active.
        candidateCorrect: i % 10 < 5 || [65, 66, 67, 69].includes(i),
        activeCorrect: i % 10 < 5 || i === 68,
      })),
    });
    expect(decision.rule).toBe('tie');
    for (const [version, status, extra] of [
      [fixture.version, 'active', {}],
      [
        candidate,
        'candidate',
        {
          metrics: {
            ...metrics,
            ...figures(200, 0.56),
            byDomain: { crop: figures(50, 0.7), field: figures(150, 0.513) },
          },
          promotion: decision,
        },
      ],
    ] as const) {
      await adminDb()
        .doc(`models/${version}`)
        .set({
          version,
          createdAt: now,
          runId: 'e2e-pages',
          backbone: { id: 'fixture' },
          metrics,
          storagePrefix,
          status,
          ...extra,
        });
    }
    await adminDb()
      .doc('config/activeModel')
      .set({ version: fixture.version, storagePrefix, activatedAt: now, history: [] });

    await page.goto(pageUrl('/training.html'));
    const row = page.locator(`#model-rows tr[data-version="${candidate}"]`);
    await row.waitFor();
    expect(await row.locator('td.promotion').textContent()).toBe(
      'Non activé : écart trop faible (4 contre 1 photos)',
    );
    // Its figures per domain and the paired test behind the decision, in French.
    await row.getByRole('button', { name: `Détails du modèle ${candidate}` }).click();
    const cells = async (selector: string) =>
      (await page.locator(`${selector} td`).allTextContents()).map((t) => t.replace(/\s/g, ' '));
    await page.locator('#domain-figures tr[data-domain="field"]').waitFor();
    expect(await page.locator('#domain-figures tr[data-domain="field"] th').textContent()).toBe(
      'Photos de terrain',
    );
    expect(await cells('#domain-figures tr[data-domain="field"]')).toEqual([
      '150',
      '51,3 %',
      '90 %',
      '92,5 %',
      '40 %',
      '2 %',
    ]);
    expect(await page.locator('#domain-figures tr[data-domain="crop"] th').textContent()).toBe(
      'Gros plans',
    );
    // The verdict in one plain sentence on the same photos; the statistics in a detail.
    expect(await page.locator('#promotion-reason').textContent()).toBe(
      'Sur les 200 mêmes photos du banc d’essai, 4 photos reconnues par le nouveau modèle seulement, 1 par l’ancien seulement : l’écart est trop faible pour conclure ; l’ancien reste actif (promotion manuelle possible).',
    );
    expect(await page.locator('#promotion-stats').getAttribute('open')).toBeNull();
    expect(await page.locator('#promotion-trainer-reason').textContent()).toMatch(
      /^Égalité dans le bruit : top-1 52,0 % contre 50,5 % sur 200 photos \(4 gagnées, 1 perdue\), p = 0,109 ≥ 0,05/,
    );
    expect(await cells('#promotion-test tr[data-domain="all"]')).toEqual([
      '200',
      '52 %',
      '50,5 %',
      '4',
      '1',
      '0,109',
      '0,891',
    ]);
    expect(await cells('#promotion-test tr[data-domain="crop"]')).toEqual([
      '50',
      '50 %',
      '50 %',
      '0',
      '0',
      '0,500',
      '0,500',
    ]);
    await screenshot(page, 'modele-banc-essai');
    await expect(page.locator('#rollback').isDisabled()).resolves.toBe(true);
    await row.getByRole('button', { name: `Promouvoir le modèle ${candidate}` }).click();
    await page.locator('#active-model', { hasText: `Modèle actif : ${candidate}` }).waitFor();
    expect((await adminDb().doc('config/activeModel').get()).get('version')).toBe(candidate);

    await page
      .getByRole('button', { name: `Détails du modèle ${fixture.version}`, exact: true })
      .click();
    await page.locator('#model-details table.matrix').waitFor();
    expect(await page.locator('#model-details table.matrix tbody tr').count()).toBe(labels.length);
    await screenshot(page, 'modeles');

    await page.getByRole('button', { name: 'Revenir au modèle précédent' }).click();
    await page.locator('#active-model', { hasText: `Modèle actif : ${fixture.version}` }).waitFor();
    // (the text above is also a prefix of the candidate's name: check the pointer itself)
    await expect
      .poll(async () => (await adminDb().doc('config/activeModel').get()).get('version'), {
        timeout: HANG_BOUND_MS,
      })
      .toBe(fixture.version);
    await page.locator('#training-status[data-tone="success"]').waitFor();
  });

  it('the public "try it" page identifies a photo and explains refusals in French', async () => {
    const visitor = await openPage(browser, TABLET);
    const { page } = visitor;
    try {
      await page.goto(pageUrl('/try.html'));
      const fake = path.join(os.tmpdir(), `wildlens-pages-${RUN_ID}-faux.jpg`);
      writeFileSync(fake, 'pas une image');
      await page.setInputFiles('#photo', fake);
      await page.getByRole('button', { name: 'Identifier' }).click();
      await page.locator('#try-status[data-tone="error"]').waitFor({ timeout: HANG_BOUND_MS });
      expect(await page.locator('#try-status').textContent()).toMatch(
        /^Identification impossible : .*[a-zé]/,
      );

      const manifest = hasFootprints
        ? (JSON.parse(readFileSync(path.join(FOOTPRINTS_DIR, 'manifest.json'), 'utf8')) as {
            images: { label: string; file: string }[];
          })
        : undefined;
      const photo = manifest
        ? path.join(FOOTPRINTS_DIR, manifest.images.find((i) => i.label === 'Loup')?.file ?? '')
        : fake;
      if (!manifest) {
        const [synthetic] = await syntheticSubset(['loup'], 1);
        writeFileSync(photo, synthetic?.data ?? Buffer.alloc(0));
      }
      await page.setInputFiles('#photo', photo);
      await page.getByRole('button', { name: 'Identifier' }).click();
      await page.locator('#result:not([hidden])').waitFor({ timeout: HANG_BOUND_MS });
      const top = await page.locator('#top li').count();
      expect(top).toBeGreaterThanOrEqual(1);
      expect(top).toBeLessThanOrEqual(3);
      expect((await page.locator('#verdict').textContent())?.length).toBeGreaterThan(10);
      if ((await page.locator('#result').getAttribute('data-verdict')) === 'identified') {
        await page.locator('#sheet h3').waitFor();
      }
      await screenshot(page, 'essayer');
      expect(visitor.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
    } finally {
      await visitor.context.close();
    }
  });
});
