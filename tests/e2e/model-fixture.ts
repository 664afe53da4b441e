/**
 * A small but real footprint model for end-to-end tests and the benchmark: trained with
 * @wildlens/model (the npm-shipped DEFAULT_BACKBONE_ID unless asked: `auto` would make the e2e
 * tests depend on the machine's weights) on a few photos per species from
 * ../shared/datasets/footprints-dev when present, otherwise on synthetic sharp-generated
 * pictures. The trained files are cached under the OS temp dir (never in the repository),
 * then uploaded to `models/{version}/` and activated through `config/activeModel`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
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

export interface FixtureModel {
  dir: string;
  version: string;
  source: 'footprints-dev' | 'synthetic';
  labels: string[];
}

/**
 * Trains (or reuses from the temp-dir cache) the fixture model. `perSpecies` real photos per
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

  const key = createHash('sha256')
    .update(JSON.stringify({ source, perSpecies, backboneId, ids: images.map((i) => i.id), v: 2 }))
    .digest('hex')
    .slice(0, 12);
  const version = `e2e-${key}`;
  const dir = path.join(os.tmpdir(), 'wildlens-fixture-models', version);
  const labels = [...new Set(images.map((i) => i.label))].sort();
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
    calibrationFolds: 3,
    syntheticNegatives: 6,
    head: { epochs: 80 },
    version,
    trainingInfo: { purpose: 'e2e-fixture', source },
  });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await saveModel(model, dir);
  model.dispose();
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
