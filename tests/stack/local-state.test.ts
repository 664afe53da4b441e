/**
 * `npm start` keeps its state: the first start imports a dataset and trains; Ctrl+C exports;
 * the next start resumes the same model, admin user and history without importing again; a
 * killed launcher loses nothing (its emulators' state is saved by the next start); `--fresh`
 * starts empty and sets the old state aside; a state that cannot be read is refused and left
 * untouched. Each test starts the real launcher on this suite's ports (WILDLENS_PORT_OFFSET).
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getAuth } from 'firebase-admin/auth';
import { getFirestore } from 'firebase-admin/firestore';
import { getStorage } from 'firebase-admin/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import { emulatorAdminApp } from '../../scripts/import-dataset.js';
import {
  readSavedState,
  readStateLock,
  stateLayout,
  type StateLayout,
} from '../../scripts/local-state/state.js';
import { isEmulatorSuite, waitForExit } from '../../scripts/local-state/live.js';
import { syntheticFootprint } from '../e2e/model-fixture.js';
import { HANG_BOUND_MS } from '../hang-bound.js';
import { LocalStackProcess } from './local-stack.js';

const ADMIN_EMAIL = 'admin@example.org';
const READY = /pile locale prête en/;
let work: string;
let layout: StateLayout;
let dataset: string;
let running: LocalStackProcess | undefined;

const app = () => emulatorAdminApp();
const db = () => getFirestore(app());
const auth = () => getAuth(app());

/** `npm start` on the test's state folder and dataset. */
function start(args: string[] = [], env: Record<string, string> = {}): LocalStackProcess {
  running = new LocalStackProcess(args, {
    WILDLENS_STATE_DIR: layout.root,
    WILDLENS_SEED_DATASET: dataset,
    ...env,
  });
  return running;
}

function tsx(script: string, args: string[]): { code: number; output: string } {
  const res = spawnSync(`${REPO_ROOT}/node_modules/.bin/tsx`, [script, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  return { code: res.status ?? 1, output: `${res.stdout}${res.stderr}` };
}

/** The sample client, keeping its observation; returns the anonymous user's uid. */
function identifyAsApp(photo: string): string {
  const res = spawnSync(
    process.execPath,
    ['examples/identify-client.mjs', photo, '--keep', '--json'],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    },
  );
  expect(res.stderr).toBe('');
  return (JSON.parse(res.stdout.trim().split('\n').at(-1) as string) as { uid: string }).uid;
}

const activeModel = async () =>
  ((await db().doc('config/activeModel').get()).get('version') as string | undefined) ?? null;

/** Every file under `dir` with its size and mtime: proves a folder was not touched. */
function fingerprint(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.push(`${path.relative(dir, p)} ${st.size} ${st.mtimeMs}`);
    }
  };
  walk(dir);
  return out;
}

/** Live processes of a process group (from /proc/<pid>/stat: pid (comm) state ppid pgrp …). */
function processesInGroup(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function waitUntil(
  probe: () => boolean,
  what: string,
  timeoutMs = HANG_BOUND_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

let photo: string;
let modelVersion: string;
let anonymousUid: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'wildlens-local-state-'));
  layout = stateLayout(path.join(work, 'state'));
  // A small labelled folder (synthetic: no ../shared needed), 3 species × 6 photos.
  dataset = path.join(work, 'dataset');
  for (const [kind, label] of ['Renard', 'Loup', 'Lynx'].entries()) {
    mkdirSync(path.join(dataset, label), { recursive: true });
    for (let v = 0; v < 6; v++)
      writeFileSync(path.join(dataset, label, `${v}.jpg`), await syntheticFootprint(kind, v));
  }
  photo = path.join(dataset, 'Renard', '0.jpg');
});

afterAll(async () => {
  // Never leave a stack behind, even when a test failed half-way.
  if (running?.running) await running.ctrlC();
  const lock = readStateLock(layout);
  if (lock?.suitePid && isEmulatorSuite(lock.suitePid)) {
    process.kill(-lock.suitePid, 'SIGINT');
    if (!(await waitForExit(lock.suitePid, 30_000))) process.kill(-lock.suitePid, 'SIGKILL');
  }
  rmSync(work, { recursive: true, force: true });
});

describe('npm start keeps its state', () => {
  it('first start: imports the dataset, trains, and saves the state on Ctrl+C', async () => {
    const stack = start();
    await stack.waitFor(READY);
    await stack.waitFor(/Identification opérationnelle/);
    await stack.waitFor(/État enregistré \(fin d’entraînement\)/);
    expect(stack.output).toMatch(/18 photos \(domaine « dataset »\)/);
    modelVersion = (await activeModel()) as string;
    expect(modelVersion).toBeTruthy();
    // Uploads carried the dataset's domain.
    const images = await db().collection('trainingImages').get();
    expect(images.size).toBe(18);
    expect(new Set(images.docs.map((d) => d.get('domain')))).toEqual(new Set(['dataset']));

    const grant = tsx('scripts/admin-grant.ts', ['grant', '--emulator', '--create', ADMIN_EMAIL]);
    expect(grant.output).toMatch(/est administrateur/);
    anonymousUid = identifyAsApp(photo);

    expect(await stack.ctrlC()).toBe(0);
    expect(stack.output).toMatch(/État enregistré \(arrêt\)/);
    const saved = readSavedState(layout);
    expect(saved?.summary).toMatchObject({ activeModel: modelVersion, observations: 1 });
    expect(readdirSync(layout.trainerLogs).length).toBeGreaterThan(0);
  });

  it('second start: same model, admin user and history, no import; exports periodically', async () => {
    const started = Date.now();
    const stack = start([], { WILDLENS_EXPORT_INTERVAL_MINUTES: '0.05' });
    await stack.waitFor(READY);
    console.log(
      `[local state] second start ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(stack.output).not.toMatch(/Premier démarrage|\[import\]/);
    expect(await activeModel()).toBe(modelVersion);
    expect((await auth().getUserByEmail(ADMIN_EMAIL)).customClaims).toMatchObject({ admin: true });
    const history = await db().collection(`users/${anonymousUid}/observations`).get();
    expect(history.size).toBe(1);
    const photoPath = history.docs[0]?.get('photoPath') as string;
    expect((await getStorage(app()).bucket().file(photoPath).exists())[0]).toBe(true);
    // The restored model serves identifications.
    identifyAsApp(photo);

    // A user created now is in the next periodic export.
    const before = Date.now();
    await auth().createUser({ email: 'periodic@example.org' });
    await waitUntil(() => {
      const saved = readSavedState(layout);
      return saved?.reason === 'periodic' && Date.parse(saved.savedAt) > before;
    }, 'a periodic export');
    expect(readSavedState(layout)?.summary.users).toBeGreaterThanOrEqual(4);

    // Then the launcher is killed (no Ctrl+C): its emulators keep running, orphaned.
    await auth().createUser({ email: 'after-export@example.org' });
    await stack.killLauncher();
  });

  it('a start after a killed launcher saves its orphaned emulators, then resumes', async () => {
    const orphan = readStateLock(layout)?.suitePid as number;
    expect(isEmulatorSuite(orphan)).toBe(true);
    const stack = start();
    await stack.waitFor(/arrêté brutalement/);
    await stack.waitFor(READY);
    // The orphan and its whole process group (function workers…) are gone.
    expect(processesInGroup(orphan)).toEqual([]);
    // Nothing lost: even the user created after the last periodic export is there.
    expect((await auth().getUserByEmail('after-export@example.org')).uid).toBeTruthy();
    expect(await activeModel()).toBe(modelVersion);
    const history = await db().collection(`users/${anonymousUid}/observations`).get();
    expect(history.size).toBe(1);
    expect(await stack.ctrlC()).toBe(0);
  });

  let aside: string;
  it('--fresh starts empty and sets the saved state aside, untouched', async () => {
    const stack = start(['--fresh'], { WILDLENS_SEED_DATASET: 'none' });
    const line = await stack.waitFor(/--fresh : l’état précédent est mis de côté dans/);
    aside = (/mis de côté dans (\S+)/.exec(line) as RegExpExecArray)[1] as string;
    await stack.waitFor(READY);
    expect(await activeModel()).toBeNull();
    expect((await auth().listUsers()).users).toEqual([]);
    expect(readSavedState(stateLayout(aside))?.summary.activeModel).toBe(modelVersion);
    expect(await stack.ctrlC()).toBe(0);
  });

  it('refuses a saved state that is incomplete, and leaves it as it was', async () => {
    const broken = stateLayout(path.join(work, 'broken'));
    cpSync(aside, broken.root, { recursive: true });
    rmSync(path.join(broken.emulators, 'storage_export'), { recursive: true });
    const before = fingerprint(broken.root);
    const stack = new LocalStackProcess([], {
      WILDLENS_STATE_DIR: broken.root,
      WILDLENS_SEED_DATASET: 'none',
    });
    running = stack;
    expect(await stack.exited).toBe(1);
    expect(stack.output).toMatch(/ne peut pas être relu : la partie « storage » manque/);
    expect(stack.output).toMatch(/npm start -- --fresh/);
    expect(fingerprint(broken.root)).toEqual(before);
  });

  it('stops when the import silently lost data, and keeps the saved state', async () => {
    // The saved state with an empty Firestore (that of the --fresh stack) in place of its own:
    // firebase-tools imports it without a word; the launcher must notice the model is gone.
    const lossy = stateLayout(path.join(work, 'lossy'));
    cpSync(aside, lossy.root, { recursive: true });
    rmSync(path.join(lossy.emulators, 'firestore_export'), { recursive: true });
    cpSync(
      path.join(layout.emulators, 'firestore_export'),
      path.join(lossy.emulators, 'firestore_export'),
      {
        recursive: true,
      },
    );
    const before = fingerprint(lossy.root);
    const stack = new LocalStackProcess([], {
      WILDLENS_STATE_DIR: lossy.root,
      WILDLENS_SEED_DATASET: 'none',
    });
    running = stack;
    expect(await stack.exited).toBe(1);
    expect(stack.output).toMatch(/n’a pas été relu en entier/);
    expect(stack.output).toMatch(new RegExp(`modèle actif : ${modelVersion} attendu, aucun relu`));
    expect(fingerprint(lossy.root)).toEqual(before);
  });
});
