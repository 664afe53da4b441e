/**
 * `npm start`'s first start in two phases, on small generated datasets (no ../shared needed):
 * a crop-domain folder is imported and trained first (« Identification opérationnelle »), the
 * field-domain folder then in the background, with a candidate trained on both that goes
 * through the promotion rule and a console line saying what was decided. A Ctrl+C during the
 * background phase loses nothing: the next start resumes it. A training that fails is tried
 * again once by itself, then the console says it failed, why and what to do, never that the
 * first start ended.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getFirestore } from 'firebase-admin/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorAdminApp } from '../../scripts/import-dataset.js';
import { describeDecision } from '../../scripts/first-start.js';
import { readStateLock, stateLayout, type StateLayout } from '../../scripts/local-state/state.js';
import { isEmulatorSuite, waitForExit } from '../../scripts/local-state/live.js';
import { syntheticFootprint } from '../e2e/model-fixture.js';
import { syntheticSubset } from '../e2e/training-support.js';
import { LocalStackProcess } from './local-stack.js';

const READY = /pile locale prête en/;
const SPECIES = [
  ['Renard', 'renard'],
  ['Loup', 'loup'],
  ['Lynx', 'lynx'],
] as const;
let work: string;
let crops: string;
let field: string;
let running: LocalStackProcess | undefined;
const layouts: StateLayout[] = [];

const db = () => getFirestore(emulatorAdminApp());

/** A dataset folder with a manifest declaring its domain, one group per photo. */
function writeDataset(
  dir: string,
  domain: string,
  photos: { label: string; name: string; data: Buffer }[],
): void {
  for (const p of photos) {
    mkdirSync(path.join(dir, p.label), { recursive: true });
    writeFileSync(path.join(dir, p.label, p.name), p.data);
  }
  const images = photos.map((p) => ({
    label: p.label,
    file: `${p.label}/${p.name}`,
    group: `${domain}-${p.name}`,
  }));
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ domain, images }));
}

function start(layout: StateLayout, env: Record<string, string>): LocalStackProcess {
  running = new LocalStackProcess([], { WILDLENS_STATE_DIR: layout.root, ...env });
  return running;
}

function newLayout(name: string): StateLayout {
  const layout = stateLayout(path.join(work, name));
  layouts.push(layout);
  return layout;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'wildlens-first-start-'));
  crops = path.join(work, 'gros-plans');
  field = path.join(work, 'terrain');
  const cropPhotos = [];
  for (const [kind, [label]] of SPECIES.entries())
    for (let v = 0; v < 6; v++)
      cropPhotos.push({ label, name: `${v}.jpg`, data: await syntheticFootprint(kind, v) });
  writeDataset(crops, 'crop', cropPhotos);
  const fieldPhotos = await syntheticSubset(
    SPECIES.map(([, id]) => id),
    8,
  );
  writeDataset(
    field,
    'field',
    fieldPhotos.map((p) => ({
      label: SPECIES.find(([, id]) => id === p.speciesId)?.[0] as string,
      name: p.name,
      data: p.data,
    })),
  );
});

afterAll(async () => {
  if (running?.running) await running.ctrlC();
  for (const layout of layouts) {
    const lock = readStateLock(layout);
    if (lock?.suitePid && isEmulatorSuite(lock.suitePid)) {
      process.kill(-lock.suitePid, 'SIGINT');
      if (!(await waitForExit(lock.suitePid, 30_000))) process.kill(-lock.suitePid, 'SIGKILL');
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe('first start in two phases', () => {
  let layout: StateLayout;

  it('trains on the crops first, then goes on with the field photos in the background; Ctrl+C there loses nothing', async () => {
    layout = newLayout('two-phases');
    const stack = start(layout, { WILDLENS_SEED_DATASET: `${field},${crops}` });
    await stack.waitFor(READY);
    await stack.waitFor(
      /Premier démarrage : aucun modèle actif\. Étape 1\/2 : import de .*gros-plans \(crop\)/,
    );
    await stack.waitFor(/✔ Identification opérationnelle : modèle \S+ actif/);
    // Phase 1 imported the crops only. Phase 2 starts right after that line, so only the
    // console up to it is phase 1's, however late this test reads it on a busy machine.
    const phase1 = stack.output.slice(0, stack.output.search(/✔ Identification opérationnelle/));
    expect(phase1).toMatch(/gros-plans : 18 photos \(domaine « crop »\)/);
    expect(phase1).not.toMatch(/terrain : 24 photos/);
    const first = (await db().doc('config/activeModel').get()).get('version') as string;
    expect(first).toBeTruthy();
    await stack.waitFor(/Étape 2\/2, en arrière-plan/);
    // Ctrl+C during the background phase: the state is saved with the phase it was in.
    expect(await stack.ctrlC()).toBe(0);
    expect(stack.output).toMatch(/État enregistré \(arrêt\)/);
    expect(stack.output).not.toMatch(/Premier démarrage terminé/);
  });

  it('the next start resumes the background phase and says what the promotion rule decided', async () => {
    const stack = start(layout, { WILDLENS_SEED_DATASET: `${field},${crops}` });
    await stack.waitFor(READY);
    await stack.waitFor(/Reprise du premier démarrage, étape 2\/2/);
    const decided = await stack.waitFor(/Modèle amélioré activé|Candidat refusé/);
    await stack.waitFor(/Premier démarrage terminé/);
    // Phase 1 was not done again.
    expect(stack.output).not.toMatch(/gros-plans : 18 photos/);
    expect(stack.output).toMatch(/terrain : 24 photos \(domaine « field »\)/);
    const images = await db().collection('trainingImages').get();
    expect(images.size).toBe(42);
    // The line says what the candidate's run document says: its decision and its figures.
    const runs = await db().collection('trainingRuns').orderBy('createdAt', 'desc').limit(1).get();
    const run = runs.docs[0]?.data() as Record<string, unknown>;
    expect(run.status).toBe('succeeded');
    expect(run.promotion).toMatchObject({ comparedWith: expect.any(String) });
    expect(decided).toContain(describeDecision(run, ['field']));
    const record = (await db().doc('config/firstStart').get()).data() as {
      phases: { state: string; domains: string[] }[];
    };
    expect(record.phases.map((p) => [p.domains, p.state])).toEqual([
      [['crop'], 'done'],
      [['field'], 'done'],
    ]);
    expect(await stack.ctrlC()).toBe(0);
  });
});

describe('a first start whose training fails', () => {
  it('tries once more by itself, then says why and what to do, and never that it ended', async () => {
    // One species only: the trainer refuses (at least 2 are needed), every time.
    const single = path.join(work, 'une-espece');
    writeDataset(single, 'crop', [
      { label: 'Renard', name: 'a.jpg', data: await syntheticFootprint(0, 1) },
      { label: 'Renard', name: 'b.jpg', data: await syntheticFootprint(0, 2) },
    ]);
    const stack = start(newLayout('failing'), { WILDLENS_SEED_DATASET: single });
    await stack.waitFor(READY);
    await stack.waitFor(/Nouvel essai automatique/);
    const failed = await stack.waitFor(/✖ Premier démarrage incomplet/);
    expect(failed).toMatch(
      /étape 1\/1 a échoué 2 fois\. Raison : Il faut des images d’au moins 2 espèces/,
    );
    expect(stack.output).toMatch(
      /Aucun modèle n’est actif : l’identification n’est pas disponible/,
    );
    expect(stack.output).toMatch(/Que faire : relancez `npm start`/);
    expect(stack.output).not.toMatch(/Identification opérationnelle|Premier démarrage terminé/);
    expect((await db().collection('trainingRuns').get()).size).toBe(2);
    expect(await stack.ctrlC()).toBe(0);
  });
});
