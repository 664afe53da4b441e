import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** ../shared relative to the repo root (read-only datasets and backbones for dev and CI). */
export const SHARED_DIR = path.resolve(repoRoot, '..', 'shared');
export const FOOTPRINTS_DIR = path.join(SHARED_DIR, 'datasets', 'footprints-dev');
export const FIELD_FOOTPRINTS_DIR = path.join(SHARED_DIR, 'datasets', 'footprints-field-dev');
export const hasShared = existsSync(path.join(FOOTPRINTS_DIR, 'manifest.json'));

if (!hasShared) {
  console.warn(
    `[@wildlens/model] ${SHARED_DIR} is absent: tests that need the real footprint photos are skipped.`,
  );
}
