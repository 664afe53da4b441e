import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REGION_IDS, type FootPrint, type SpeciesCatalog } from './species.js';

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
  'range',
  'exampleImage',
];

/** The negative space between toes and pad each family shows (the catalogue's `padShape`). */
const PAD_SHAPE_OF_FAMILY: Record<string, string> = { Canidae: 'x', Felidae: 'c' };

function expectFoot(foot: FootPrint): void {
  expect(foot.toes.length).toBeGreaterThan(0);
  for (const toes of foot.toes) expect([4, 5]).toContain(toes);
  for (const [min, max] of [foot.lengthCm, foot.widthCm]) {
    expect(min).toBeGreaterThan(0.5);
    expect(max).toBeGreaterThan(min);
    expect(max).toBeLessThan(40);
  }
}

function isNonEmptyText(value: unknown): boolean {
  return typeof value === 'string' && value.trim().length > 0;
}

function imageUrl(path: string): URL {
  return new URL('../../../hosting/public' + path, import.meta.url);
}

describe('species catalogue (catalog.json)', () => {
  it('lists 13 species sorted by unique ascii ids', () => {
    expect(catalog.version).toBe(2);
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
        (k) => !['datasetLabels', 'track', 'range', 'exampleImage'].includes(k),
      )) {
        expect(isNonEmptyText(species[key as keyof typeof species]), key).toBe(true);
      }
      expect(species.datasetLabels.length).toBeGreaterThan(0);
      expect(FAMILIES).toContain(species.family);
      const track = species.track;
      expect(isNonEmptyText(track.description)).toBe(true);
      expect(isNonEmptyText(track.labelCovers)).toBe(true);
      expectFoot(track.front);
      expectFoot(track.hind);
      expect(['usually', 'sometimes', 'rarely']).toContain(track.claws);
      expect(track.padShape).toBe(PAD_SHAPE_OF_FAMILY[species.family] ?? 'none');
      const larger = track.largerFoot === 'front' ? track.front : track.hind;
      const smaller = track.largerFoot === 'front' ? track.hind : track.front;
      expect(larger.lengthCm[1] * larger.widthCm[1]).toBeGreaterThanOrEqual(
        smaller.lengthCm[1] * smaller.widthCm[1],
      );
      expect(track.sources.length).toBeGreaterThan(0);
      for (const source of track.sources) expect(isNonEmptyText(source)).toBe(true);
      const { regions, description, sources } = species.range;
      expect(Object.keys(regions).sort()).toEqual([...REGION_IDS].sort());
      for (const presence of Object.values(regions))
        expect(['widespread', 'local', 'absent']).toContain(presence);
      expect(Object.values(regions)).toContain('widespread');
      expect(isNonEmptyText(description)).toBe(true);
      expect(sources.length).toBeGreaterThan(0);
      const { path, alt, credit } = species.exampleImage;
      expect(path).toBe(`/species/${species.id}.svg`);
      expect(isNonEmptyText(alt)).toBe(true);
      expect(isNonEmptyText(credit)).toBe(true);
    },
  );

  it('writes French apostrophes typographically (’), never straight', () => {
    const raw = readFileSync(new URL('./catalog.json', import.meta.url), 'utf8');
    expect(raw.match(/.{0,30}'.{0,30}/g) ?? []).toEqual([]);
  });

  it('maps each dataset folder to exactly one species', () => {
    const labels = catalog.species.flatMap((s) => s.datasetLabels);
    expect(new Set(labels).size).toBe(labels.length);
    expect([...labels].sort()).toEqual([...DATASET_FOLDERS].sort());
  });

  it('gives the ranges the field guides and the IUCN state', () => {
    const range = (id: string) => catalog.species.find((s) => s.id === id)?.range.regions;
    expect(range('puma')?.europe).toBe('absent');
    expect(range('coyote')?.europe).toBe('absent');
    expect(range('raton-laveur')?.europe).toBe('local');
    expect(range('puma')?.['north-america']).toBe('widespread');
    for (const id of ['chien', 'chat', 'rat'])
      expect(Object.values(range(id) ?? {})).toEqual(REGION_IDS.map(() => 'widespread'));
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
