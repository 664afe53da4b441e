/**
 * Decides how the Firebase Emulator Suite is provisioned on this machine and prepares it.
 *
 * firebase-tools downloads two JARs on first use (the Firestore emulator and the Storage
 * rules runtime) plus the Emulator UI. Where they are cached or downloadable we use them
 * ("official" mode). Where they are not (machines without internet), we provision them from
 * what exists locally ("offline" mode): the Firestore emulator shipped with the Google Cloud
 * SDK, and an exact-or-refuse stand-in for the Storage rules runtime that only accepts the
 * project's deny-all storage.rules. The Emulator UI cannot be provisioned offline.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildStorageRulesStandIn,
  isDenyAllStorageRules,
  storageRulesNotDenyAllMessage,
} from './storage-rules-standin.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const PROJECT_ID = 'demo-wildlens';
export const CACHE_DIR = join(REPO_ROOT, '.cache', 'wildlens');
/**
 * Generated variant of firebase.json (UI disabled and/or ports shifted). It sits beside
 * firebase.json because firebase-tools resolves relative paths from the config's folder.
 */
export const generatedConfigPath = (offset: number): string =>
  join(REPO_ROOT, `.firebase.generated-${offset}.json`);

/** Emulator ports of firebase.json; WILDLENS_PORT_OFFSET shifts them all so that several
 * suites (e.g. two checkouts, or a developer and a test run) can run side by side. */
export interface EmulatorPorts {
  auth: number;
  functions: number;
  firestore: number;
  storage: number;
  hosting: number;
  /** The Emulator Hub: lists the running emulators, exports their data. */
  hub: number;
}

export function emulatorPorts(env: NodeJS.ProcessEnv = process.env): EmulatorPorts {
  const offset = portOffset(env);
  return {
    auth: 9099 + offset,
    functions: 5001 + offset,
    firestore: 8080 + offset,
    storage: 9199 + offset,
    hosting: 5000 + offset,
    hub: 4400 + offset,
  };
}

export function portOffset(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.WILDLENS_PORT_OFFSET ?? '0';
  const offset = Number(raw);
  // Base ports differ pairwise by 1 (5000/5001), 49, 51, 100 and more: even offsets below 49
  // are the ones for which two suites can never land on each other's ports.
  if (!Number.isInteger(offset) || offset < 0 || offset > 48 || offset % 2 !== 0) {
    throw new StackError(
      `WILDLENS_PORT_OFFSET invalide : « ${raw} » (nombre pair de 0 à 48, pour que deux piles ` +
        'ne partagent jamais un port).',
    );
  }
  return offset;
}

export const ALL_EMULATORS = 'auth,functions,firestore,storage,hosting';

type Provision = 'official-cached' | 'official-download' | 'offline' | 'override';

export interface StackPlan {
  /** official: Google's emulator binaries; offline: local stand-ins; mixed: some of each. */
  mode: 'official' | 'offline' | 'mixed';
  firestore: Provision;
  storageRules: Provision;
  ui: boolean;
  /** Environment for firebase-tools (and, through it, the functions). */
  env: Record<string, string>;
  /** Extra arguments for `firebase` (e.g. --config). */
  firebaseArgs: string[];
  /** What differs from a normal online setup, for the banner and the health endpoint. */
  notes: string[];
}

interface DownloadInfo {
  remoteUrl: string;
  downloadPathRelativeToCacheDir: string;
}

function emulatorDownloads(): { firestore: DownloadInfo; storage: DownloadInfo; ui: DownloadInfo } {
  const infoPath = join(
    REPO_ROOT,
    'node_modules/firebase-tools/lib/emulator/downloadableEmulatorInfo.json',
  );
  const info = JSON.parse(readFileSync(infoPath, 'utf8')) as {
    firestore: DownloadInfo;
    storage: DownloadInfo;
    ui: { main: DownloadInfo };
  };
  return { firestore: info.firestore, storage: info.storage, ui: info.ui.main };
}

function firebaseCacheDir(env: NodeJS.ProcessEnv): string {
  return env.FIREBASE_EMULATORS_PATH ?? join(homedir(), '.cache', 'firebase', 'emulators');
}

/** Can Google's download host be reached? A refusal (no DNS, no route) answers fast. */
export async function canDownload(url: string, timeoutMs = 5000): Promise<boolean> {
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}

/** The Firestore emulator JAR of a Debian/apt Google Cloud SDK install, if present. */
export function findCloudSdkFirestoreJar(env: NodeJS.ProcessEnv): string | undefined {
  const roots = [
    env.CLOUDSDK_ROOT_DIR,
    '/usr/lib/google-cloud-sdk',
    '/usr/share/google-cloud-sdk',
    '/opt/google-cloud-sdk',
    join(homedir(), 'google-cloud-sdk'),
  ];
  for (const root of roots) {
    if (!root) continue;
    const jar = join(root, 'platform/cloud-firestore-emulator/cloud-firestore-emulator.jar');
    if (existsSync(jar)) return jar;
  }
  return undefined;
}

/**
 * The SDK's JAR has no Main-Class, and firebase-tools runs `java -jar <path>`: a manifest-only
 * wrapper JAR names the entry point and puts the SDK JAR on its class path.
 */
export function buildFirestoreWrapperJar(sdkJar: string, cacheDir: string): string {
  mkdirSync(cacheDir, { recursive: true });
  const wrapper = join(cacheDir, 'cloud-firestore-emulator-wrapper.jar');
  const manifest = join(cacheDir, 'cloud-firestore-emulator-wrapper.mf');
  const content =
    'Manifest-Version: 1.0\n' +
    'Main-Class: com.google.cloud.datastore.emulator.firestore.CloudFirestore\n' +
    `Class-Path: ${new URL(`file://${sdkJar}`).href}\n`;
  const previous = existsSync(manifest) ? readFileSync(manifest, 'utf8') : '';
  if (previous !== content || !existsSync(wrapper)) {
    writeFileSync(manifest, content);
    execFileSync('jar', ['--create', '--file', wrapper, '--manifest', manifest], {
      stdio: 'pipe',
    });
  }
  return wrapper;
}

export class StackError extends Error {}

export async function planEmulatorStack(
  env: NodeJS.ProcessEnv = process.env,
  probe: (url: string) => Promise<boolean> = canDownload,
): Promise<StackPlan> {
  const downloads = emulatorDownloads();
  const cache = firebaseCacheDir(env);
  const forceOffline = env.WILDLENS_FORCE_OFFLINE === '1';
  const cached = (d: DownloadInfo): boolean =>
    existsSync(join(cache, d.downloadPathRelativeToCacheDir));
  let online: boolean | undefined;
  const reachable = async (): Promise<boolean> => {
    online ??= !forceOffline && (await probe(downloads.firestore.remoteUrl));
    return online;
  };

  const planEnv: Record<string, string> = {};
  const notes: string[] = [];

  let firestore: Provision;
  if (env.FIRESTORE_EMULATOR_BINARY_PATH) {
    firestore = 'override';
  } else if (!forceOffline && cached(downloads.firestore)) {
    firestore = 'official-cached';
  } else if (await reachable()) {
    firestore = 'official-download';
  } else {
    const sdkJar = findCloudSdkFirestoreJar(env);
    if (!sdkJar) {
      throw new StackError(
        "Mode hors ligne : l'émulateur Firestore n'est ni en cache ni téléchargeable, et aucun " +
          'Google Cloud SDK local ne le fournit (paquet google-cloud-cli-firestore-emulator).\n' +
          'Offline mode: the Firestore emulator JAR is neither cached nor downloadable and no ' +
          'local Google Cloud SDK provides it.',
      );
    }
    planEnv.FIRESTORE_EMULATOR_BINARY_PATH = buildFirestoreWrapperJar(sdkJar, CACHE_DIR);
    firestore = 'offline';
    notes.push(`Firestore : émulateur du Google Cloud SDK local (${sdkJar})`);
  }

  let storageRules: Provision;
  if (env.STORAGE_EMULATOR_BINARY_PATH) {
    storageRules = 'override';
  } else if (!forceOffline && cached(downloads.storage)) {
    storageRules = 'official-cached';
  } else if (await reachable()) {
    storageRules = 'official-download';
  } else {
    const rulesPath = join(REPO_ROOT, 'storage.rules');
    if (!isDenyAllStorageRules(readFileSync(rulesPath, 'utf8'))) {
      throw new StackError(storageRulesNotDenyAllMessage(rulesPath));
    }
    planEnv.STORAGE_EMULATOR_BINARY_PATH = await buildStorageRulesStandIn(CACHE_DIR);
    storageRules = 'offline';
    notes.push(
      'Storage : règles évaluées par le substitut Wildlens (storage.rules « tout refuser » vérifié à l’identique)',
    );
  }

  const ui = !forceOffline && (cached(downloads.ui) || (await reachable()));
  if (!ui) notes.push('Emulator UI indisponible (non téléchargeable hors ligne)');
  const offset = portOffset(env);
  const firebaseArgs: string[] = [];
  if (!ui || offset) {
    const config = JSON.parse(readFileSync(join(REPO_ROOT, 'firebase.json'), 'utf8')) as {
      emulators: Record<string, { port?: number; websocketPort?: number; enabled?: boolean }>;
    };
    for (const emulator of Object.values(config.emulators)) {
      if (typeof emulator !== 'object') continue;
      if (emulator.port) emulator.port += offset;
      if (emulator.websocketPort) emulator.websocketPort += offset;
    }
    if (!ui) config.emulators.ui = { enabled: false };
    const path = generatedConfigPath(offset);
    writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
    firebaseArgs.push('--config', path);
  }
  // The Storage emulator keeps its blobs under os.tmpdir()/firebase/storage and wipes that
  // folder on exit: a private temp dir per suite keeps side-by-side suites from deleting
  // each other's objects.
  const tmp = join(CACHE_DIR, 'tmp', String(offset));
  mkdirSync(tmp, { recursive: true });
  planEnv.TMPDIR = tmp;
  // The Functions emulator starts one worker process per event that finds no idle worker and
  // drops the event if that worker is not up within 30 s, which a burst of uploads on a
  // 2-core machine exceeds (seen: 16 workers starting at once, one ingestion lost).
  planEnv.FUNCTIONS_DISCOVERY_TIMEOUT = env.FUNCTIONS_DISCOVERY_TIMEOUT ?? '180';
  const ports = emulatorPorts(env);
  planEnv.WILDLENS_FUNCTIONS_ORIGIN = `http://127.0.0.1:${ports.functions}/${PROJECT_ID}/europe-west1`;
  planEnv.WILDLENS_HOSTING_ORIGIN = `http://127.0.0.1:${ports.hosting}`;

  const provisions = [firestore, storageRules];
  const offlineCount = provisions.filter((p) => p === 'offline').length;
  const mode =
    offlineCount === 0 ? 'official' : offlineCount === provisions.length ? 'offline' : 'mixed';
  planEnv.WILDLENS_STACK_MODE = mode;
  // Tests of storage.rules semantics need Google's runtime; they read this to decide.
  planEnv.WILDLENS_STORAGE_RULES_RUNTIME = storageRules === 'offline' ? 'standin' : 'official';
  planEnv.WILDLENS_STACK_NOTES = notes.join('|');
  return { mode, firestore, storageRules, ui, env: planEnv, firebaseArgs, notes };
}

export function describePlan(plan: StackPlan): string {
  const label = {
    official: 'OFFICIEL (binaires Google des émulateurs)',
    offline: 'HORS LIGNE (émulateurs provisionnés localement)',
    mixed: 'MIXTE (une partie provisionnée localement)',
  }[plan.mode];
  const lines = [
    `Mode de la pile d'émulateurs : ${label}`,
    `  Firestore : ${plan.firestore}`,
    `  Règles Storage : ${plan.storageRules}`,
    `  Emulator UI : ${plan.ui ? 'oui' : 'non'}`,
    ...plan.notes.map((n) => `  - ${n}`),
  ];
  return lines.join('\n');
}

export function firebaseBin(): string {
  return join(REPO_ROOT, 'node_modules', '.bin', 'firebase');
}
