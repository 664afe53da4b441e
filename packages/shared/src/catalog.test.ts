import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SpeciesCatalog } from './species.js';

// Read the raw file (not the cached loader) so the test checks exactly what ships.
const catalog = JSON.parse(
  readFileSync(new URL('./catalog.json', import.meta.url), 'utf8'),
) as SpeciesCatalog;

const DATASET_FOLDERS = [
  'Castor',
  'Chat',
  'Chien',
  'Coyote',
  'Ecureuil',
  'Lapin',
  'Loup',
  'Lynx',
  'Ours',
  'Puma',
  'Rat',
  'Raton_laveur',
  'Renard',
];

const FAMILIES = [
  'Castoridae',
  'Felidae',
  'Canidae',
  'Sciuridae',
  'Leporidae',
  'Ursidae',
  'Muridae',
  'Procyonidae',
];

const SPECIES_KEYS = [
  'id',
  'datasetLabels',
  'nameFr',
  'nameEn',
  'latinName',
  'family',
  'order',
  'size',
  'region',
  'habitat',
  'description',
  'funFact',
  'track',
  'exampleImage',
];

function isNonEmptyText(value: unknown): boolean {
  return typeof value === 'string' && value.trim().length > 0;
}

function imageUrl(path: string): URL {
  return new URL('../../../hosting/public' + path, import.meta.url);
}

describe('species catalogue (catalog.json)', () => {
  it('lists 13 species sorted by unique ascii ids', () => {
    expect(catalog.version).toBe(1);
    expect(catalog.species).toHaveLength(13);
    const ids = catalog.species.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort());
    for (const id of ids) expect(id).toMatch(/^[a-z]+(-[a-z]+)*$/);
  });

  it.each(catalog.species.map((s) => [s.id, s] as const))(
    '%s has every required field filled',
    (_id, species) => {
      expect(Object.keys(species).sort()).toEqual([...SPECIES_KEYS].sort());
      for (const key of SPECIES_KEYS.filter(
        (k) => !['datasetLabels', 'track', 'exampleImage'].includes(k),
      )) {
        expect(isNonEmptyText(species[key as keyof typeof species]), key).toBe(true);
      }
      expect(species.datasetLabels.length).toBeGreaterThan(0);
      expect(FAMILIES).toContain(species.family);
      const { toes, claws, lengthCm, description } = species.track;
      expect(toes).toMatch(/^\d\/\d$/);
      expect(typeof claws).toBe('boolean');
      expect(isNonEmptyText(lengthCm)).toBe(true);
      expect(isNonEmptyText(description)).toBe(true);
      const { path, alt, credit } = species.exampleImage;
      expect(path).toBe(`/species/${species.id}.svg`);
      expect(isNonEmptyText(alt)).toBe(true);
      expect(isNonEmptyText(credit)).toBe(true);
    },
  );

  it('maps each dataset folder to exactly one species', () => {
    const labels = catalog.species.flatMap((s) => s.datasetLabels);
    expect(new Set(labels).size).toBe(labels.length);
    expect([...labels].sort()).toEqual([...DATASET_FOLDERS].sort());
  });

  it.each(catalog.species.map((s) => [s.id, s.exampleImage.path] as const))(
    '%s example image is a plain local SVG',
    (_id, path) => {
      const url = imageUrl(path);
      expect(existsSync(url), `missing hosting/public${path}`).toBe(true);
      const svg = readFileSync(url, 'utf8');
      expect(svg.trimStart().startsWith('<svg')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
      expect(svg).not.toMatch(/<script/i);
      expect(svg).not.toContain('href="http');
    },
  );
});
