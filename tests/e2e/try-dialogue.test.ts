/**
 * The public "try it" page walks through the dialogue (issue 19) in headless Chromium against
 * the Emulator Suite: identify a photo taken « in the Alps », draw the frame on the stored photo
 * with the mouse, answer the question asked, withdraw the answer, add a second photo, and read
 * the candidates and the note on species not expected there; each step checked against what
 * the observation stores.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHosting } from '../../scripts/build-hosting.js';
import { LAPTOP, hasChromium, launchChromium, openPage, pageUrl, screenshot } from './browser.js';
import {
  FOOTPRINTS_DIR,
  hasFootprints,
  installFixtureModel,
  syntheticFootprint,
  trainFixtureModel,
} from './model-fixture.js';
import { adminDb, adminBucket, closeAdmin } from './support.js';
import { NEEDS } from '../requirements.js';
import { HANG_BOUND_MS } from '../hang-bound.js';

/**
 * Two photos of one species: a puma's (absent from the wild in Europe, so its note shows) when
 * ../shared is present (photos the fixture model was trained on: it names them confidently),
 * else two synthetic prints.
 */
async function photoFiles(): Promise<[string, string]> {
  const dir = os.tmpdir();
  if (hasFootprints) {
    const manifest = JSON.parse(
      readFileSync(path.join(FOOTPRINTS_DIR, 'manifest.json'), 'utf8'),
    ) as {
      images: { label: string; file: string }[];
    };
    const pumas = manifest.images.filter((i) => i.label === 'Puma').slice(0, 2);
    return pumas.map((p) => path.join(FOOTPRINTS_DIR, p.file)) as [string, string];
  }
  const files = [path.join(dir, 'wildlens-try-1.jpg'), path.join(dir, 'wildlens-try-2.jpg')];
  writeFileSync(files[0] as string, await syntheticFootprint(0, 3));
  writeFileSync(files[1] as string, await syntheticFootprint(0, 4));
  return files as [string, string];
}

describe.skipIf(!hasChromium)(
  'the try page’s dialogue in headless Chromium',
  NEEDS.chromium,
  () => {
    let browser: Browser;

    beforeAll(async () => {
      const fixture = await trainFixtureModel({ log: (m) => console.log(`[try e2e] ${m}`) });
      await installFixtureModel(adminBucket(), adminDb(), fixture);
      await buildHosting({ quiet: true });
      browser = await launchChromium();
    });

    afterAll(async () => {
      await browser?.close();
      await closeAdmin();
    });

    it('identify, frame the print, answer, withdraw, add a photo: candidates and notes shown', async () => {
      const visitor = await openPage(browser, LAPTOP);
      const { page } = visitor;
      const [first, second] = await photoFiles();
      try {
        await page.goto(pageUrl('/try.html'));
        await page.getByLabel('Lieu de la photo (facultatif)').selectOption('alpes');
        await page.setInputFiles('#photo', first);
        await page.getByRole('button', { name: 'Identifier' }).click();
        const dialogue = page.locator('#dialogue');
        await dialogue.waitFor({ state: 'visible', timeout: HANG_BOUND_MS });
        const id = (await dialogue.getAttribute('data-observation-id')) ?? '';
        // Its owner is the anonymous account the page signed in with: found by its id.
        const observation = (await adminDb().collectionGroup('observations').get()).docs.find(
          (d) => d.id === id,
        );
        expect(observation, 'the observation the page shows is stored').toBeDefined();
        const ref = observation!.ref;
        const stored = async () => (await ref.get()).data() ?? {};

        // Candidates « l'une de ces n espèces, 9 fois sur 10 » (or without coverage) and the zone.
        await expect(page.locator('#candidates').textContent()).resolves.toMatch(
          /^(L’une de ces \d+ espèces, \d+ fois sur 10 : |Très probablement : |Espèces possibles : )/,
        );
        await expect(page.locator('#zone').textContent()).resolves.toMatch(/Europe/);
        // The notes are exactly those of the stored result (a puma in the Alps: one at least).
        const unexpected = (await stored()).unexpectedSpeciesIds as string[];
        if (hasFootprints) expect(unexpected).toContain('puma');
        await expect(
          page
            .locator('#unexpected li')
            .evaluateAll((items) => items.map((li) => li.getAttribute('data-species'))),
        ).resolves.toEqual(unexpected);
        if (unexpected.length) {
          await expect(page.locator('#unexpected li').first().textContent()).resolves.toMatch(
            /ne vit pas à l’état sauvage en Europe/,
          );
        }
        await screenshot(page, 'essayer-dialogue');

        // Draw the frame with the mouse on the stored photo, then send it.
        const photo = page.locator('#frame-photo');
        await photo.waitFor({ state: 'visible' });
        await expect
          .poll(() => photo.evaluate((img: HTMLImageElement) => img.naturalWidth))
          .toBeGreaterThan(0);
        // The result above it is long: the photo must be on screen for the mouse to reach it.
        await photo.scrollIntoViewIfNeeded();
        const box = (await photo.boundingBox())!;
        await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.25);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 5 });
        await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.85, { steps: 5 });
        await page.mouse.up();
        await page.getByRole('button', { name: 'Analyser ce cadre' }).click();
        await page
          .locator('#dialogue-status[data-tone="success"]')
          .waitFor({ timeout: HANG_BOUND_MS });
        const region = ((await stored()).photos as { region: Record<string, number> | null }[])[0]
          ?.region;
        expect(region?.x).toBeCloseTo(0.2, 1);
        expect(region?.y).toBeCloseTo(0.25, 1);
        expect(region?.width).toBeCloseTo(0.6, 1);
        expect(region?.height).toBeCloseTo(0.6, 1);
        // The stored frame is shown on the photo.
        await page.locator('#frame-box[data-state="stored"]').waitFor({ state: 'visible' });

        // Answer the question asked (its first choice, or « Je ne sais pas » for a measure).
        const question = page.locator('#question [data-question]');
        const questionId = await question.getAttribute('data-question', { timeout: HANG_BOUND_MS });
        expect(questionId).toBeTruthy();
        await question.locator('button[data-answer]').first().click();
        await page.locator(`#answers li[data-question="${questionId}"]`).waitFor();
        expect(Object.keys((await stored()).answers as object)).toEqual([questionId]);
        // Never asked again.
        expect(await page.locator(`#question [data-question="${questionId}"]`).count()).toBe(0);
        // Withdrawn: gone from the page and from the observation.
        await page
          .locator(`#answers li[data-question="${questionId}"]`)
          .getByRole('button', { name: 'Retirer' })
          .click();
        await page
          .locator(`#answers li[data-question="${questionId}"]`)
          .waitFor({ state: 'detached' });
        expect((await stored()).answers).toEqual({});

        // A second photo of the trail.
        await page.setInputFiles('#extra-photo', second);
        await page.getByRole('button', { name: 'Ajouter la photo' }).click();
        await page.locator('#photo-strip button').nth(1).waitFor({ timeout: HANG_BOUND_MS });
        expect(((await stored()).photos as unknown[]).length).toBe(2);
        await expect(page.locator('#dialogue-status').textContent()).resolves.toMatch(
          /^Photo ajoutée : 2 photos/,
        );
        // The main panel shows the fused result the observation stores.
        const top = (await stored()).top as { speciesId: string }[];
        await expect(
          page
            .locator('#top li')
            .evaluateAll((items) => items.map((li) => li.getAttribute('data-species'))),
        ).resolves.toEqual(top.map((t) => t.speciesId));
        await screenshot(page, 'essayer-dialogue-fin');
        expect(visitor.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
      } finally {
        await visitor.context.close();
      }
    });
  },
);
