/**
 * A small but real footprint model for end-to-end tests and the benchmark: trained with
 * @wildlens/model (the npm-shipped DEFAULT_BACKBONE_ID unless asked: `auto` would make the e2e
 * tests depend on the machine's weights) on a few photos per species from
 * ../shared/datasets/footprints-dev when present, otherwise on synthetic sharp-generated
 * pictures. It is trained once and cached under `.cache/wildlens/fixture-models/` (ignored by
 * git), keyed by a hash of what the training reads: the photos' bytes, the options, and the
 * built @wildlens/model and @wildlens/shared: any change to them trains it again. Uploaded
 * to `models/{version}/` and activated through `config/activeModel`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Firestore } from 'firebase-admin/firestore';
import sharp from 'sharp';
import {
  DEFAULT_BACKBONE_ID,
  initBackend,
  resolveBackboneId,
  saveModel,
  trainFootprintModel,
  type TrainingImage,
} from '@wildlens/model';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE_CACHE_DIR = path.join(REPO_ROOT, '.cache', 'wildlens', 'fixture-models');
/** What the training runs: the built @wildlens/model and the @wildlens/shared it imports. */
const TRAINING_CODE_DIRS = ['model', 'shared'].map((p) =>
  path.join(REPO_ROOT, 'packages', p, 'dist'),
);
/** ../shared, or WILDLENS_SHARED_DIR (a git worktree whose parent has no shared/). */
export const SHARED_DIR =
  process.env.WILDLENS_SHARED_DIR ?? path.resolve(REPO_ROOT, '..', 'shared');
export const FOOTPRINTS_DIR = path.join(SHARED_DIR, 'datasets', 'footprints-dev');
export const hasFootprints = existsSync(path.join(FOOTPRINTS_DIR, 'manifest.json'));

interface ManifestEntry {
  label: string;
  file: string;
  group?: string;
}

/** Species id of a dataset folder label ("Raton_laveur" → "raton-laveur"). */
function speciesIdOf(label: string): string {
  return label
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[_\s]+/g, '-');
}

export interface FootprintPhoto {
  speciesId: string;
  file: string;
}

/** Real photos from ../shared (empty when it is absent), `perSpecies` per species, stable order. */
export async function footprintPhotos(perSpecies: number, skip = 0): Promise<FootprintPhoto[]> {
  if (!hasFootprints) return [];
  const manifest = JSON.parse(
    await readFile(path.join(FOOTPRINTS_DIR, 'manifest.json'), 'utf8'),
  ) as { images: ManifestEntry[] };
  const bySpecies = new Map<string, FootprintPhoto[]>();
  for (const entry of manifest.images) {
    const speciesId = speciesIdOf(entry.label);
    const list = bySpecies.get(speciesId) ?? [];
    list.push({ speciesId, file: path.join(FOOTPRINTS_DIR, entry.file) });
    bySpecies.set(speciesId, list);
  }
  return [...bySpecies.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([, list]) => list.slice(skip, skip + perSpecies));
}

const SYNTHETIC_COLOURS = ['#8b5a2b', '#2f4f4f', '#c2a878'];
const SYNTHETIC_LABELS = ['renard', 'loup', 'lynx'];

/** A synthetic "footprint" of one of three visually distinct kinds (no ../shared needed). */
export async function syntheticFootprint(kind: number, variant: number): Promise<Buffer> {
  const fill = SYNTHETIC_COLOURS[kind % 3] ?? '#888';
  const shape =
    kind % 3 === 0
      ? `<circle cx="${150 + variant * 7}" cy="160" r="70" fill="#3b2a1a"/>`
      : kind % 3 === 1
        ? `<rect x="${80 + variant * 6}" y="50" width="70" height="200" fill="#eeeeee"/>`
        : `<path d="M30 260 L200 ${40 + variant * 5} L370 260 Z" fill="#111111"/>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="320"><rect width="100%" height="100%" fill="${fill}"/>${shape}</svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}

const FIXTURE_TRAINING = { calibrationFolds: 3, syntheticNegatives: 6, head: { epochs: 80 } };

/** Every JavaScript file under `dir` (what runs: not the maps, types or build info), sorted. */
async function scriptsUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) return scriptsUnder(full);
      return Promise.resolve(e.isFile() && e.name.endsWith('.js') ? [full] : []);
    }),
  );
  return nested.flat().sort();
}

/** Feeds every script under `dir` (relative path and bytes, in a stable order) into `hash`. */
async function hashTree(hash: ReturnType<typeof createHash>, dir: string): Promise<void> {
  const files = existsSync(dir) ? await scriptsUnder(dir) : [];
  if (!files.length) throw new Error(`${dir} est vide : lancez npm run build.`);
  for (const file of files) hash.update(path.relative(dir, file)).update(await readFile(file));
}

export interface FixtureModel {
  dir: string;
  version: string;
  source: 'footprints-dev' | 'synthetic';
  labels: string[];
}

/**
 * Trains (or reuses from the cache) the fixture model. `perSpecies` real photos per
 * species; the synthetic fallback uses 3 kinds × 6 images.
 */
export async function trainFixtureModel(
  options: {
    perSpecies?: number;
    /** DEFAULT_BACKBONE_ID unless asked (the benchmark asks for `auto`, the production recipe). */
    backboneId?: string;
    log?: (m: string) => void;
  } = {},
): Promise<FixtureModel> {
  const perSpecies = options.perSpecies ?? 4;
  const { id: backboneId } = await resolveBackboneId(options.backboneId ?? DEFAULT_BACKBONE_ID);
  const log = options.log ?? (() => {});
  const photos = await footprintPhotos(perSpecies);
  const source = photos.length ? 'footprints-dev' : 'synthetic';
  const images: TrainingImage[] = photos.length
    ? photos.map((p, i) => ({
        id: `${p.speciesId}-${i}`,
        label: p.speciesId,
        group: `${p.speciesId}-${i}`,
        read: () => readFile(p.file),
      }))
    : Array.from({ length: 18 }, (_, i) => ({
        id: `synthetic-${i}`,
        label: SYNTHETIC_LABELS[i % 3] as string,
        group: `synthetic-${i}`,
        read: () => syntheticFootprint(i % 3, Math.floor(i / 3)),
      }));

  const labels = [...new Set(images.map((i) => i.label))].sort();
  const hash = createHash('sha256').update(
    JSON.stringify({ source, backboneId, labels, training: FIXTURE_TRAINING }),
  );
  for (const image of images) hash.update(image.id).update(await image.read());
  for (const dir of TRAINING_CODE_DIRS) await hashTree(hash, dir);
  const version = `e2e-${hash.digest('hex').slice(0, 12)}`;
  const dir = path.join(FIXTURE_CACHE_DIR, version);
  if (existsSync(path.join(dir, 'manifest.json'))) {
    log(`modèle de test ${version} (${source}) repris du cache ${dir}`);
    return { dir, version, source, labels };
  }
  await initBackend();
  const started = Date.now();
  const { model } = await trainFootprintModel({
    backboneId,
    images,
    labels,
    ...FIXTURE_TRAINING,
    version,
    trainingInfo: { purpose: 'e2e-fixture', source },
  });
  // Written beside, then renamed: a run killed mid-save never leaves a half model in the cache.
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  await saveModel(model, partial);
  model.dispose();
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
  log(
    `modèle de test ${version} (${source}, ${images.length} images) entraîné en ${Date.now() - started} ms`,
  );
  return { dir, version, source, labels };
}

/** Minimal bucket surface used here (Admin SDK bucket). */
interface UploadBucket {
  file(name: string): { save(data: Buffer, options: { resumable: false }): Promise<unknown> };
}

/** Uploads the model files to `models/{version}/` and points `config/activeModel` at them. */
export async function installFixtureModel(
  bucket: UploadBucket,
  db: Firestore,
  model: FixtureModel,
  version = model.version,
): Promise<string> {
  const storagePrefix = `models/${version}/`;
  for (const name of await readdir(model.dir)) {
    await bucket
      .file(`${storagePrefix}${name}`)
      .save(await readFile(path.join(model.dir, name)), { resumable: false });
  }
  await db.doc('config/activeModel').set({ version, storagePrefix, activatedAt: new Date() });
  return version;
}
