/**
 * Offline bundles (issue 22): the on-device copy of a model under `models/{version}/bundle/`.
 *
 * - Exported when a model becomes active (trigger on `config/activeModel`: trainer promotion,
 *   admin promotion and rollback all go through that pointer) and on demand (admin callable).
 *   Idempotent: `bundle.json`, written last, marks a complete export and a present bundle is
 *   left alone; the bundle's bytes depend only on the model, so two exports racing (or a retried
 *   one) write identical files under identical names.
 * - `getOfflineBundle` follows the active pointer, so a rollback hands out the previous
 *   model's bundle again. Download URLs carry an HMAC token of the object name (the same scheme
 *   as the training thumbnails): the same URL for every caller and retry, and unguessable.
 */
import type { Firestore } from 'firebase-admin/firestore';
import * as logger from 'firebase-functions/logger';
import { COLLECTIONS, storagePrefixReader } from '@wildlens/shared';
import { modelStoragePrefix, readActiveModel } from '@wildlens/trainer/registry';
import type { OfflineBundleManifest } from '@wildlens/model/inference';
import { exportOfflineBundleRequest, noParameters, parseInput } from '../api/schemas.js';
import { downloadUrl } from '../common/download-url.js';
import { errorSummary, fail } from '../common/errors.js';
import { isTransientError } from '../common/transient.js';
import type { Bucket } from '../firebase.js';
import { downloadTokenFor, trainingTokenKey } from './ingestion.js';
import { toSheet } from './species.js';

export const BUNDLE_MANIFEST = 'bundle.json';

export interface OfflineBundleDeps {
  db: Firestore;
  bucket: Bucket;
  /** Storage API origin of the download URLs (the emulator's in tests). */
  storageOrigin?: string;
}

/** `models/{version}/bundle/`. */
export function bundlePrefix(version: string): string {
  return `${modelStoragePrefix(version)}bundle/`;
}

const CONTENT_TYPES: [RegExp, string][] = [
  [/\.json$/, 'application/json'],
  [/\.bin$/, 'application/octet-stream'],
];

export interface BundleExport {
  version: string;
  /** `exported` now, or already `present` (nothing written). */
  status: 'exported' | 'present';
  totalSize: number;
  fileCount: number;
}

async function readBundleManifest(
  bucket: Bucket,
  version: string,
): Promise<OfflineBundleManifest | null> {
  const file = bucket.file(`${bundlePrefix(version)}${BUNDLE_MANIFEST}`);
  let bytes: Buffer;
  try {
    [bytes] = await file.download();
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === 404) return null;
    throw err;
  }
  const { parseOfflineBundleManifest } = await import('@wildlens/model/inference');
  return parseOfflineBundleManifest(JSON.parse(bytes.toString('utf8')));
}

/** Whether every file `manifest` lists is stored with its size (one listing request). */
async function isComplete(
  bucket: Bucket,
  version: string,
  manifest: OfflineBundleManifest,
): Promise<boolean> {
  const prefix = bundlePrefix(version);
  const [stored] = await bucket.getFiles({ prefix });
  const sizes = new Map(stored.map((f) => [f.name.slice(prefix.length), Number(f.metadata.size)]));
  return manifest.files.every((f) => sizes.get(f.path) === f.size);
}

/**
 * Exports the bundle of model `version` unless it is already there (`force`: rebuild and
 * overwrite, e.g. after the bundle format changed). Throws when the model cannot be bundled.
 */
export async function exportOfflineBundle(
  version: string,
  deps: OfflineBundleDeps,
  options: { force?: boolean } = {},
): Promise<BundleExport> {
  if (!options.force) {
    const present = await readBundleManifest(deps.bucket, version);
    if (present && (await isComplete(deps.bucket, version, present)))
      return {
        version,
        status: 'present',
        totalSize: present.totalSize,
        fileCount: present.files.length,
      };
  }
  // Loaded on use: TensorFlow costs every other function's cold start half a second.
  const { buildOfflineBundle, writeOfflineBundle } = await import('@wildlens/model');
  const species = (await deps.db.collection(COLLECTIONS.species).get()).docs.map((d) =>
    toSheet(d.id, d.data()),
  );
  const bundle = await buildOfflineBundle({
    model: storagePrefixReader(deps.bucket, modelStoragePrefix(version)),
    version,
    species,
  });
  const key = await trainingTokenKey(deps.db);
  const prefix = bundlePrefix(version);
  await writeOfflineBundle(bundle, async (path, bytes) => {
    const name = `${prefix}${path}`;
    await deps.bucket
      .file(name)
      .save(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
        resumable: false,
        contentType: CONTENT_TYPES.find(([re]) => re.test(path))?.[1] ?? 'application/octet-stream',
        metadata: {
          // A version's bundle never changes: clients may cache its files for good.
          cacheControl: 'private, max-age=31536000, immutable',
          metadata: { firebaseStorageDownloadTokens: downloadTokenFor(key, name) },
        },
      });
  });
  logger.info('offline_bundle.exported', {
    version,
    totalSize: bundle.manifest.totalSize,
    files: bundle.manifest.files.length,
    parts: bundle.manifest.backbone.parts.map((p) => `${p.id} (${p.weights.quantization})`),
  });
  return {
    version,
    status: 'exported',
    totalSize: bundle.manifest.totalSize,
    fileCount: bundle.manifest.files.length,
  };
}

/**
 * The `config/activeModel` trigger: exports the now-active model's bundle if missing. A
 * transient failure is rethrown (the trigger retries; the export is idempotent); a model that
 * cannot be bundled is logged, and the app keeps its previous bundle.
 */
export async function exportActiveOfflineBundle(
  pointer: { version?: unknown } | undefined,
  deps: OfflineBundleDeps,
): Promise<BundleExport | null> {
  const version = typeof pointer?.version === 'string' ? pointer.version : null;
  if (!version) return null;
  try {
    return await exportOfflineBundle(version, deps);
  } catch (err) {
    if (isTransientError(err)) throw err;
    logger.error('offline_bundle.export_failed', { version, error: errorSummary(err) });
    return null;
  }
}

/** Admin callable: exports the given (default: active) model's bundle now. */
export async function exportOfflineBundleOnDemand(
  uid: string,
  data: unknown,
  deps: OfflineBundleDeps,
): Promise<BundleExport> {
  const request = parseInput(exportOfflineBundleRequest, data);
  const version = request?.version ?? (await readActiveModel(deps.db))?.version;
  if (!version) fail('failed-precondition', 'Aucun modèle actif : précisez la version à exporter.');
  const manifestExists = await deps.bucket
    .file(`${modelStoragePrefix(version)}manifest.json`)
    .exists()
    .then(([exists]) => exists);
  if (!manifestExists) fail('not-found', `Modèle inconnu : « ${version} ».`);
  let result: BundleExport;
  try {
    result = await exportOfflineBundle(version, deps, { force: request?.force === true });
  } catch (err) {
    if (isTransientError(err)) throw err;
    logger.error('offline_bundle.export_failed', { version, by: uid, error: errorSummary(err) });
    fail(
      'failed-precondition',
      `Le modèle « ${version} » ne peut pas être exporté pour l’usage hors ligne : ${(err as Error).message}`,
    );
  }
  logger.info('admin.offline_bundle_export', { version, status: result.status, by: uid });
  return result;
}

export interface OfflineBundleResponse {
  /** The bundle's version: the active model's. Download again only when it changed. */
  version: string;
  formatVersion: number;
  /** Bytes to download, all files together. */
  totalSize: number;
  /** bundle.json as stored (what the runtime loads), its files with their SHA-256 and size. */
  manifest: OfflineBundleManifest;
  /** Each file with its download URL. */
  files: { path: string; sha256: string; size: number; url: string }[];
}

/** Callable (signed-in users): the active model's bundle manifest with a download URL per file. */
export async function getOfflineBundle(
  _uid: string,
  data: unknown,
  deps: OfflineBundleDeps,
): Promise<OfflineBundleResponse> {
  parseInput(noParameters, data);
  const active = await readActiveModel(deps.db);
  if (!active?.version)
    fail(
      'failed-precondition',
      'Aucun modèle actif : l’identification hors ligne n’est pas encore disponible.',
    );
  const manifest = await readBundleManifest(deps.bucket, active.version);
  if (!manifest)
    fail(
      'unavailable',
      'Le paquet hors ligne du modèle actif est en préparation. Réessayez dans quelques minutes.',
    );
  const key = await trainingTokenKey(deps.db);
  const prefix = bundlePrefix(active.version);
  return {
    version: manifest.version,
    formatVersion: manifest.formatVersion,
    totalSize: manifest.totalSize,
    manifest,
    files: manifest.files.map((f) => {
      const name = `${prefix}${f.path}`;
      return {
        ...f,
        url: downloadUrl(deps.bucket.name, name, downloadTokenFor(key, name), deps.storageOrigin),
      };
    }),
  };
}
