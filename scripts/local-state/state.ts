/**
 * The local stack's saved state: one folder (default .cache/wildlens/local-state, or
 * WILDLENS_STATE_DIR) that `npm start` imports at start and exports while it runs and on exit.
 *
 *   local-state/
 *     emulators/                  the last complete export of Auth, Firestore and Storage
 *       firebase-export-metadata.json, auth_export/, firestore_export/, storage_export/
 *       wildlens-state.json       when and by what it was saved, and what it holds (summary)
 *     trainer-logs/               logs of the local trainer processes ({runId}.log)
 *     start.lock                  pid of the `npm start` using this folder
 *
 * An export is written to emulators.tmp-* and then swapped in with renames, so a crash at any
 * moment leaves either the previous export or the new one, never a half-written folder.
 * Nothing here ever deletes a saved state that could not be read: it is set aside.
 */
import {
  existsSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import path from 'node:path';
import { isAlive } from '../emulators/port-owner.js';
import { CACHE_DIR } from '../emulators/stack.js';

export const DEFAULT_STATE_DIR = path.join(CACHE_DIR, 'local-state');
export const STATE_FILE = 'wildlens-state.json';
const FIREBASE_METADATA = 'firebase-export-metadata.json';
const STATE_FORMAT = 1;

export interface StateLayout {
  root: string;
  emulators: string;
  previous: string;
  trainerLogs: string;
  lock: string;
}

export function stateLayout(root: string): StateLayout {
  return {
    root,
    emulators: path.join(root, 'emulators'),
    previous: path.join(root, 'emulators.previous'),
    trainerLogs: path.join(root, 'trainer-logs'),
    lock: path.join(root, 'start.lock'),
  };
}

export function stateDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.WILDLENS_STATE_DIR ? path.resolve(env.WILDLENS_STATE_DIR) : DEFAULT_STATE_DIR;
}

/** What an export holds, checked after an import to prove nothing was silently dropped. */
export interface StateSummary {
  activeModel: string | null;
  trainingImages: number;
  observations: number;
  users: number;
  storageObjects: number;
}

export interface SavedState {
  format: number;
  savedAt: string;
  reason: string;
  firebaseTools: string;
  /** How Firestore and the Storage rules runtime were provisioned (see emulators/stack.ts). */
  stack: { mode: string; firestore: string; storageRules: string };
  summary: StateSummary;
}

export class StateError extends Error {}

/** Message shared by every "cannot use the saved state" case: what to do about it. */
export function freshAdvice(layout: StateLayout): string {
  return (
    `L’état enregistré est conservé tel quel dans ${layout.root}.\n` +
    '  Pour repartir de zéro : npm start -- --fresh (l’état actuel sera mis de côté, pas effacé).'
  );
}

/**
 * Brings the folder back to a consistent state after a crash in the middle of a swap (the
 * previous export is put back when the new one was not swapped in) and drops unfinished
 * exports (emulators.tmp-*: the export itself never completed).
 */
export function recoverInterruptedExport(layout: StateLayout): void {
  if (!existsSync(layout.root)) return;
  if (!existsSync(layout.emulators) && existsSync(layout.previous))
    renameSync(layout.previous, layout.emulators);
  else if (existsSync(layout.previous)) rmSync(layout.previous, { recursive: true, force: true });
  for (const name of readdirSync(layout.root))
    if (name.startsWith('emulators.tmp-'))
      rmSync(path.join(layout.root, name), { recursive: true, force: true });
}

/**
 * The saved state to import, or undefined when there is none (first start). Throws a
 * StateError (French, with the way out) when an export exists but is not complete or not
 * understood: firebase-tools would otherwise skip the missing parts and start empty.
 */
export function readSavedState(layout: StateLayout): SavedState | undefined {
  if (!existsSync(layout.emulators)) return undefined;
  const problem = (what: string): StateError =>
    new StateError(
      `L’état enregistré (${layout.emulators}) ne peut pas être relu : ${what}.\n${freshAdvice(layout)}`,
    );
  let metadata: Record<string, { path?: string } | string | undefined>;
  let saved: SavedState;
  try {
    metadata = JSON.parse(readFileSync(path.join(layout.emulators, FIREBASE_METADATA), 'utf8'));
    saved = JSON.parse(readFileSync(path.join(layout.emulators, STATE_FILE), 'utf8'));
  } catch (err) {
    throw problem(`fichier de description illisible (${(err as Error).message})`);
  }
  if (saved.format !== STATE_FORMAT)
    throw problem(`format ${String(saved.format)} inconnu (attendu : ${STATE_FORMAT})`);
  for (const part of ['auth', 'firestore', 'storage']) {
    const entry = metadata[part];
    const dir = typeof entry === 'object' ? entry.path : undefined;
    if (!dir || !existsSync(path.join(layout.emulators, dir)))
      throw problem(`la partie « ${part} » manque`);
  }
  return saved;
}

/**
 * What the import visibly lost: the active model must be the same, and a part that held data
 * must not come back empty (firebase-tools skips a part it cannot read with a mere warning).
 * Counts are not compared exactly: the summary is taken while the stack runs, a few seconds
 * from the export, and users may add or delete things in between.
 */
export function importLosses(expected: StateSummary, found: StateSummary): string[] {
  const losses: string[] = [];
  if (expected.activeModel !== found.activeModel)
    losses.push(
      `modèle actif : ${expected.activeModel ?? 'aucun'} attendu, ${found.activeModel ?? 'aucun'} relu`,
    );
  const labels: [keyof StateSummary, string][] = [
    ['trainingImages', 'images d’entraînement (Firestore)'],
    ['observations', 'observations (Firestore)'],
    ['users', 'utilisateurs (Auth)'],
    ['storageObjects', 'fichiers (Storage)'],
  ];
  for (const [key, label] of labels)
    if (Number(expected[key]) > 0 && found[key] === 0)
      losses.push(`${label} : ${String(expected[key])} enregistrés, aucun relu`);
  return losses;
}

/**
 * Moves the whole state folder aside (never deletes it) and returns where it went, or
 * undefined when there was nothing to move. Used by --fresh.
 */
export function setStateAside(layout: StateLayout, now = new Date()): string | undefined {
  if (!existsSync(layout.root)) return undefined;
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const aside = `${layout.root}.aside-${stamp}`;
  renameSync(layout.root, aside);
  return aside;
}

/** Who uses the folder: the `npm start` process, and the firebase-tools suite it started. */
export interface StateLock {
  pid: number;
  suitePid?: number;
  ports?: Record<string, number>;
}

export function readStateLock(layout: StateLayout): StateLock | undefined {
  try {
    const lock = JSON.parse(readFileSync(layout.lock, 'utf8')) as StateLock;
    return Number.isInteger(lock.pid) && lock.pid > 0 ? lock : undefined;
  } catch {
    return undefined;
  }
}

export interface HeldStateLock {
  /** Records the suite this process started, for a next start if this process gets killed. */
  recordSuite(suitePid: number, ports: Record<string, number>): void;
  release(): void;
  /** The previous holder died but its suite may still run: the caller must deal with it. */
  previous: StateLock | undefined;
}

/**
 * Takes the folder for this process: refuses when another live `npm start` holds it (two
 * stacks writing one state would overwrite each other's exports). A lock left by a process
 * that died is taken over, and returned as `previous`: its emulators may still be running.
 */
export function acquireStateLock(
  layout: StateLayout,
  pid = process.pid,
  alive: (pid: number) => boolean = isAlive,
): HeldStateLock {
  mkdirSync(layout.root, { recursive: true });
  const holder = readStateLock(layout);
  if (holder && holder.pid !== pid && alive(holder.pid))
    throw new StateError(
      `L’état ${layout.root} est déjà utilisé par une autre pile locale (processus ${holder.pid}).\n` +
        '  Arrêtez-la d’abord, ou donnez à celle-ci un autre dossier : WILDLENS_STATE_DIR=… ' +
        'avec un autre WILDLENS_PORT_OFFSET.',
    );
  const write = (lock: StateLock) => writeFileSync(layout.lock, `${JSON.stringify(lock)}\n`);
  write({ pid });
  return {
    previous: holder && holder.pid !== pid ? holder : undefined,
    recordSuite: (suitePid, ports) => write({ pid, suitePid, ports }),
    release: () => {
      if (readStateLock(layout)?.pid === pid) rmSync(layout.lock, { force: true });
    },
  };
}

/**
 * Writes a new export and swaps it in atomically. `exportTo(dir)` must fill `dir` (a path that
 * does not exist yet) with a complete firebase export; `describe()` gives the state record
 * written beside it. Exports are serialised by the caller (one at a time per folder).
 */
export async function exportAtomically(
  layout: StateLayout,
  exportTo: (dir: string) => Promise<void>,
  describe: () => Promise<SavedState>,
): Promise<void> {
  mkdirSync(layout.root, { recursive: true });
  const tmp = path.join(layout.root, `emulators.tmp-${process.pid}-${Date.now()}`);
  try {
    await exportTo(tmp);
    const record = await describe();
    if (!existsSync(path.join(tmp, FIREBASE_METADATA)))
      throw new Error(`export incomplet : ${FIREBASE_METADATA} absent`);
    writeFileSync(path.join(tmp, STATE_FILE), `${JSON.stringify(record, null, 2)}\n`);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (existsSync(layout.previous)) rmSync(layout.previous, { recursive: true, force: true });
  if (existsSync(layout.emulators)) renameSync(layout.emulators, layout.previous);
  renameSync(tmp, layout.emulators);
  rmSync(layout.previous, { recursive: true, force: true });
}

export function newSavedState(
  fields: Omit<SavedState, 'format' | 'savedAt'>,
  now = new Date(),
): SavedState {
  return { format: STATE_FORMAT, savedAt: now.toISOString(), ...fields };
}
