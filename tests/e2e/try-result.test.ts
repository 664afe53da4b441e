/**
 * Issue 23, the hiker's side, against the Emulator Suite:
 * - an expert's decision on a shared photo is recorded on the hiker's observation, in the
 *   decision's transaction, and getObservation / listObservations return it; refused once the
 *   observation is gone;
 * - tryModel is for admins only, answers for a registered model that is not active, stores
 *   nothing;
 * - in headless Chromium, at 360 px and 1366 px: the try page's wording for each verdict (fixed
 *   models with fitted dialogue parameters, so each verdict is certain), the expert's label seen
 *   by the hiker, correction and consent, and an admin trying a model that is not active.
 */
import { randomUUID } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { httpsCallable } from 'firebase/functions';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DialogueParameters } from '@wildlens/shared';
import { speciesIds } from '@wildlens/shared';
import { buildHosting } from '../../scripts/build-hosting.js';
import type { ServingModel } from '../../functions/src/engine/model-engine.js';
import { candidateIdFor } from '../../functions/src/handlers/review.js';
import { NEEDS } from '../requirements.js';
import {
  LAPTOP,
  hasChromium,
  launchChromium,
  openPage,
  pageUrl,
  screenshot,
  signIn,
} from './browser.js';
import { STEP_HANG_BOUND_MS } from '../hang-bound.js';
import { identifyAs, texturedPhoto } from './in-process.js';
import { footprintPhotos, syntheticFootprint, trainFixtureModel } from './model-fixture.js';
import {
  adminAuth,
  adminBucket,
  adminDb,
  closeAdmin,
  signedInClient,
  type Client,
} from './support.js';

const PHONE = { width: 360, height: 780 };
const PASSWORD = 'mot-de-passe-de-test';

const call = <T = unknown>(c: Client, name: string, data: unknown = {}) =>
  httpsCallable<unknown, T>(c.functions, name, { timeout: STEP_HANG_BOUND_MS })(data).then(
    (r) => r.data,
  );

/** Fitted-looking parameters: "identified" from 0.6 on crops, never on field photos. */
const PARAMETERS: DialogueParameters = {
  version: 1,
  coverage: 0.9,
  score: 'lac',
  photoCorrelation: 0.3,
  byDomain: {
    crop: { identified: 0.6, conformalQuantiles: [0.9, 0.85, 0.8, 0.75] },
    field: { identified: 1.01, conformalQuantiles: [0.95, 0.9, 0.9, 0.85] },
  },
  default: { identified: 1.01, conformalQuantiles: [0.95, 0.9, 0.9, 0.85] },
};

/** Probabilities over the 13 species: the given ones, the rest shared equally. */
function probabilities(given: Record<string, number>): Record<string, number> {
  const ids = speciesIds();
  const rest =
    (1 - Object.values(given).reduce((a, b) => a + b, 0)) /
    (ids.length - Object.keys(given).length);
  return Object.fromEntries(ids.map((id) => [id, given[id] ?? rest]));
}

/** A model that always answers the same, with the dialogue parameters above. */
function fixedModel(
  verdict: 'identified' | 'uncertain' | 'not_a_footprint',
  domain: 'crop' | 'field',
  given: Record<string, number>,
): ServingModel {
  const probs = probabilities(given);
  const top = Object.entries(probs)
    .map(([speciesId, probability]) => ({ speciesId, probability }))
    .sort((a, b) => b.probability - a.probability);
  return {
    version: `modele-fixe-${verdict}`,
    dialogue: PARAMETERS,
    predict: async () => ({
      verdict,
      top,
      probabilities: probs,
      domain,
      timingsMs: { preprocess: 0, inference: 0 },
    }),
    dispose: () => {},
  };
}

/** The four results the page must word differently. */
const CASES = {
  identified: fixedModel('identified', 'crop', { castor: 0.95 }),
  weak: fixedModel('uncertain', 'field', { loup: 0.27, coyote: 0.22, chien: 0.2 }),
  strong: fixedModel('uncertain', 'field', { castor: 0.99 }),
  none: fixedModel('not_a_footprint', 'field', { renard: 0.5 }),
};
type CaseName = keyof typeof CASES;

async function observe(uid: string, name: CaseName, seed: number, share = false) {
  const model = CASES[name];
  return identifyAs(uid, await texturedPhoto(seed), {
    shareForTraining: share,
    deps: { engine: { model: async () => model } },
  });
}

interface ExpertShown {
  speciesId: string | null;
  outcome: string;
  label: string;
  reviewedAt: string;
}

describe('the expert’s answer on the hiker’s observation', () => {
  let admin: Client & { uid: string };
  beforeAll(async () => {
    admin = await signedInClient({ admin: true });
  });
  afterAll(closeAdmin);

  it('an acceptance with another label reads « Corrigé par un expert » in getObservation and listObservations', async () => {
    const hiker = await signedInClient();
    const { observationId } = await observe(hiker.uid, 'weak', 1, true);
    const before = await call<{ expert: unknown }>(hiker, 'getObservation', { observationId });
    expect(before.expert).toBeNull();
    await call(admin, 'acceptReviewCandidate', {
      candidateId: candidateIdFor(hiker.uid, observationId),
      speciesId: 'renard',
    });
    const detail = await call<{ expert: ExpertShown }>(hiker, 'getObservation', { observationId });
    expect(detail.expert).toMatchObject({
      speciesId: 'renard',
      speciesNameFr: 'Renard roux',
      outcome: 'corrected',
      label: 'Corrigé par un expert : Renard roux',
    });
    expect(Date.parse(detail.expert.reviewedAt)).toBeGreaterThan(0);
    const { items } = await call<{ items: { observationId: string; expert: ExpertShown }[] }>(
      hiker,
      'listObservations',
      {},
    );
    expect(items.find((i) => i.observationId === observationId)?.expert).toEqual(detail.expert);
  });

  it('an acceptance of the observation’s own answer reads « Confirmé », a refusal says the photo was not kept', async () => {
    const hiker = await signedInClient();
    const confirmed = await observe(hiker.uid, 'strong', 2, true);
    const refused = await observe(hiker.uid, 'weak', 3, true);
    await call(admin, 'acceptReviewCandidate', {
      candidateId: candidateIdFor(hiker.uid, confirmed.observationId),
      speciesId: 'castor',
    });
    await call(admin, 'rejectReviewCandidate', {
      candidateId: candidateIdFor(hiker.uid, refused.observationId),
      reason: 'Photo floue.',
    });
    const [yes, no] = await Promise.all(
      [confirmed, refused].map(({ observationId }) =>
        call<{ expert: ExpertShown }>(hiker, 'getObservation', { observationId }),
      ),
    );
    expect(yes?.expert).toMatchObject({
      outcome: 'confirmed',
      label: expect.stringMatching(/^Confirmé par un expert : Castor/),
    });
    expect(no?.expert).toMatchObject({
      speciesId: null,
      outcome: 'rejected',
      label: 'Examinée par un expert : photo non retenue, espèce non confirmée',
    });
    // The reviewers' reason is theirs: never shown to the hiker.
    expect(JSON.stringify(no)).not.toContain('Photo floue');
  });

  it('a decision on a candidate whose observation is gone is refused and writes nothing', async () => {
    const hiker = await signedInClient();
    const { observationId } = await observe(hiker.uid, 'weak', 4, true);
    const observation = adminDb().doc(`users/${hiker.uid}/observations/${observationId}`);
    await observation.delete();
    const candidateId = candidateIdFor(hiker.uid, observationId);
    for (const [name, data] of [
      ['rejectReviewCandidate', { candidateId, reason: 'Photo floue.' }],
      ['acceptReviewCandidate', { candidateId, speciesId: 'loup' }],
    ] as const) {
      await expect(call(admin, name, data)).rejects.toMatchObject({
        code: 'functions/not-found',
        message: expect.stringMatching(/^Candidat introuvable/),
      });
    }
    expect((await adminDb().doc(`reviewCandidates/${candidateId}`).get()).get('status')).toBe(
      'pending',
    );
    expect((await observation.get()).exists).toBe(false);
  });
});

/** Registers the fixture model under a version that is not active (files and registry entry). */
async function registerInactiveModel(): Promise<string> {
  const fixture = await trainFixtureModel({ log: (m) => console.log(`[try-result e2e] ${m}`) });
  const version = `essai-${randomUUID().slice(0, 8)}`;
  for (const name of await readdir(fixture.dir)) {
    await adminBucket()
      .file(`models/${version}/${name}`)
      .save(await readFile(path.join(fixture.dir, name)), { resumable: false });
  }
  await adminDb()
    .doc(`models/${version}`)
    .set({
      version,
      status: 'ready',
      createdAt: new Date(),
      storagePrefix: `models/${version}/`,
    });
  return version;
}

async function aPhotoFile(): Promise<string> {
  const [real] = await footprintPhotos(1);
  if (real) return real.file;
  const file = path.join(os.tmpdir(), `wildlens-try-result-${randomUUID().slice(0, 8)}.jpg`);
  await writeFile(file, await syntheticFootprint(0, 2));
  return file;
}

describe('tryModel', () => {
  let version: string;
  let photo: string;
  beforeAll(async () => {
    version = await registerInactiveModel();
    photo = (await readFile(await aPhotoFile())).toString('base64');
  });
  afterAll(closeAdmin);

  it('is refused to a hiker, in French', async () => {
    const hiker = await signedInClient();
    await expect(call(hiker, 'tryModel', { version, photo })).rejects.toMatchObject({
      code: 'functions/permission-denied',
    });
  });

  it('answers with a registered model that is not active, and stores nothing', async () => {
    const admin = await signedInClient({ admin: true });
    await expect(call(admin, 'tryModel', { version: 'inconnu-404', photo })).rejects.toMatchObject({
      code: 'functions/not-found',
      message: expect.stringMatching(/^Modèle inconnu : « inconnu-404 »\./),
    });
    const result = await call<{
      verdict: string;
      top: unknown[];
      model: { version: string; active: boolean };
    }>(admin, 'tryModel', { version, photo });
    expect(['identified', 'uncertain', 'not_a_footprint']).toContain(result.verdict);
    expect(result.top).toHaveLength(3);
    expect(result.model).toMatchObject({ version, active: false });
    const stored = await adminDb().collection(`users/${admin.uid}/observations`).get();
    expect(stored.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// The try page in headless Chromium
// ---------------------------------------------------------------------------------------------

/** Opens an observation from the history list. */
async function openFromHistory(page: Page, observationId: string): Promise<void> {
  await page.locator(`#history-list li[data-observation-id="${observationId}"] button`).click();
  await page
    .locator(`#dialogue[data-observation-id="${observationId}"]`)
    .waitFor({ state: 'visible' });
}

const visibleText = (page: Page, selector: string) =>
  page.locator(selector).evaluate((el) => (el as HTMLElement).innerText);

describe.skipIf(!hasChromium)('the try page in headless Chromium', NEEDS.chromium, () => {
  let browser: Browser;
  let hiker: { uid: string; email: string };
  let adminEmail: string;
  let version: string;
  let photoFile: string;
  const ids = {} as Record<CaseName, string>;

  beforeAll(async () => {
    await buildHosting({ quiet: true });
    browser = await launchChromium();
    const suffix = randomUUID().slice(0, 8);
    hiker = { email: `randonneur-${suffix}@example.org`, uid: '' };
    hiker.uid = (await adminAuth().createUser({ email: hiker.email, password: PASSWORD })).uid;
    adminEmail = `essai-admin-${suffix}@example.org`;
    const admin = await adminAuth().createUser({ email: adminEmail, password: PASSWORD });
    await adminAuth().setCustomUserClaims(admin.uid, { admin: true });
    // Oldest first: the history shows the newest first.
    let seed = 10;
    for (const name of Object.keys(CASES) as CaseName[])
      ids[name] = (await observe(hiker.uid, name, seed++, name === 'weak')).observationId;
    // An expert corrects the weak lead « Loup gris » to « Renard roux ».
    const reviewer = await signedInClient({ admin: true });
    await call(reviewer, 'acceptReviewCandidate', {
      candidateId: candidateIdFor(hiker.uid, ids.weak),
      speciesId: 'renard',
    });
    version = await registerInactiveModel();
    photoFile = await aPhotoFile();
  });

  afterAll(async () => {
    await browser?.close();
    await closeAdmin();
  });

  for (const viewport of [PHONE, LAPTOP]) {
    const width = viewport.width;

    it(`words each verdict as what is known, and shows the expert’s label (${width} px)`, async () => {
      const { page, context, errors } = await openPage(browser, viewport);
      try {
        await signIn(page, hiker.email, PASSWORD);
        // A hiker sees no admin link, and a gate that names no command.
        expect(await page.locator('[data-admin-link]:not([hidden])').count()).toBe(0);
        await expect(page.locator('.refusal').textContent()).resolves.not.toMatch(
          /npm|admin:grant/,
        );
        await page.goto(pageUrl('/try.html'));
        await page.locator('#history-list li').nth(3).waitFor();
        expect(await page.locator('#history-list li').count()).toBe(4);
        expect(await page.locator('[data-admin-link]:not([hidden])').count()).toBe(0);
        expect(await page.locator('#model-choice').isHidden()).toBe(true);

        // The expert's label is in the history and on the observation.
        await expect(
          page.locator(`#history-list li[data-observation-id="${ids.weak}"] .expert`).textContent(),
        ).resolves.toBe('Corrigé par un expert : Renard roux');

        // identified: the species and its sheet, nothing else.
        await openFromHistory(page, ids.identified);
        await expect(page.locator('#verdict').textContent()).resolves.toMatch(
          /^Empreinte identifiée : Castor d['’]Europe$/,
        );
        await page.locator('#sheet h3', { hasText: 'Castor' }).waitFor({ state: 'visible' });
        expect(await page.locator('#pistes').isHidden()).toBe(true);
        expect(await page.locator('#hint').isHidden()).toBe(true);
        expect(await page.locator('#expert').isHidden()).toBe(true);

        // uncertain and weak: pistes with probabilities, sheets one tap away, the candidate set.
        await openFromHistory(page, ids.weak);
        await expect(page.locator('#verdict').textContent()).resolves.toBe(
          'Piste faible : aucune espèce ne se détache',
        );
        await expect(page.locator('#expert').textContent()).resolves.toMatch(
          /^Corrigé par un expert : Renard roux \(le .+\)\.$/,
        );
        const hint = (await page.locator('#hint').textContent()) ?? '';
        expect(hint).toMatch(
          /^Piste faible : aucune espèce ne se détache \(la plus probable, Loup gris, n’a que 27\s%\)\./u,
        );
        expect(hint).toMatch(/L’une de ces \d+ espèces, 9 fois sur 10 : Loup gris, /);
        expect(await page.locator('#pistes').isVisible()).toBe(true);
        expect(await page.locator('#top li').count()).toBe(3);
        await expect(page.locator('#top li .piste').first().textContent()).resolves.toMatch(
          /Loup gris.*27\s%/u,
        );
        expect(await page.locator('#sheet').textContent()).toBe('');
        // No sheet presented as the answer: each is behind its own « Fiche : … ».
        expect(await page.locator('.fact-sheet:visible').count()).toBe(0);
        await page.locator('#top details summary', { hasText: 'Fiche : Loup gris' }).click();
        await page.locator('#top details[open] .fact-sheet').waitFor({ state: 'visible' });
        await screenshot(page, `essayer-piste-faible-${width}`);

        // uncertain at 99 %: a very serious lead, with why it is not called identified.
        await openFromHistory(page, ids.strong);
        await expect(page.locator('#verdict').textContent()).resolves.toMatch(
          /^Piste très sérieuse, non confirmée : Castor d['’]Europe \(99\s%\)$/u,
        );
        await expect(page.locator('#hint').textContent()).resolves.toContain(
          'Le modèle n’est pas étalonné pour déclarer identifiée une photo de terrain',
        );
        expect(await page.locator('.fact-sheet:visible').count()).toBe(0);

        // not_a_footprint: advice only, no species anywhere on the result.
        await openFromHistory(page, ids.none);
        await expect(page.locator('#verdict').textContent()).resolves.toBe(
          'Aucune empreinte reconnue sur cette photo.',
        );
        await expect(page.locator('#hint').textContent()).resolves.toMatch(
          /^Aucune empreinte reconnue sur cette photo : cadrez une seule empreinte entière/,
        );
        // (The correction's species list stays: the hiker may name the species.)
        expect(await page.locator('#pistes').isHidden()).toBe(true);
        expect(await page.locator('#sheet').textContent()).toBe('');
        const said = `${await visibleText(page, '#verdict')} ${await visibleText(page, '#hint')}`;
        for (const name of ['Renard', 'Loup', 'Castor', 'Coyote', 'Chien', 'Lynx', 'Piste'])
          expect(said).not.toContain(name);
        await screenshot(page, `essayer-sans-empreinte-${width}`);

        // The page fits the screen.
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
          width,
        );
        expect(errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
      } finally {
        await context.close();
      }
    });

    it(`an admin tries a model that is not active, nothing stored (${width} px)`, async () => {
      const { page, context, errors } = await openPage(browser, viewport);
      try {
        await signIn(page, adminEmail, PASSWORD);
        await page.goto(pageUrl('/try.html'));
        await page.locator('#model-choice').waitFor({ state: 'visible' });
        await page.locator('[data-admin-link]:not([hidden])').first().waitFor();
        await page.selectOption('#model', version);
        await page.setInputFiles('#photo', photoFile);
        await page.getByRole('button', { name: 'Identifier' }).click();
        await page
          .locator('#try-status[data-tone="success"]', { hasText: 'rien n’a été enregistré' })
          .waitFor();
        await expect(page.locator('#model-version').textContent()).resolves.toBe(
          `Modèle utilisé : ${version}`,
        );
        expect(await page.locator('#verdict').textContent()).toBeTruthy();
        expect(await page.locator('#dialogue').isHidden()).toBe(true);
        expect(await page.locator('#observation-actions').isHidden()).toBe(true);
        const uid = (await adminAuth().getUserByEmail(adminEmail)).uid;
        expect((await adminDb().collection(`users/${uid}/observations`).get()).size).toBe(0);
        await screenshot(page, `essayer-modele-candidat-${width}`);
        expect(errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
      } finally {
        await context.close();
      }
    });
  }

  it('the hiker corrects the species and shares the photo from the page', async () => {
    const { page, context } = await openPage(browser, LAPTOP);
    try {
      await signIn(page, hiker.email, PASSWORD);
      await page.goto(pageUrl('/try.html'));
      await page.locator('#history-list li').nth(3).waitFor();
      expect(await page.locator('#history-list li').count()).toBe(4);
      await openFromHistory(page, ids.strong);
      await page.selectOption('#correction', 'loup');
      await page.getByRole('button', { name: 'Enregistrer la correction' }).click();
      await page
        .locator('#actions-status[data-tone="success"]', { hasText: 'Loup gris' })
        .waitFor();
      const ref = adminDb().doc(`users/${hiker.uid}/observations/${ids.strong}`);
      expect((await ref.get()).get('feedback.correctedSpeciesId')).toBe('loup');
      await page.getByLabel('Photo partagée pour améliorer le modèle').check();
      await page
        .locator('#actions-status[data-tone="success"]', { hasText: 'un expert' })
        .waitFor();
      expect((await ref.get()).get('shareForTraining')).toBe(true);
      const candidate = await adminDb()
        .doc(`reviewCandidates/${candidateIdFor(hiker.uid, ids.strong)}`)
        .get();
      expect(candidate.get('proposedSpeciesId')).toBe('loup');
    } finally {
      await context.close();
    }
  });
});
