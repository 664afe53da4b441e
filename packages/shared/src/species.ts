import catalogJson from './catalog.json' with { type: 'json' };

/** One entry of the species catalogue (packages/shared/catalog.json). */
export interface Species {
  id: string;
  datasetLabels: string[];
  nameFr: string;
  nameEn: string;
  latinName: string;
  family: string;
  order: string;
  size: string;
  region: string;
  habitat: string;
  description: string;
  funFact: string;
  track: { toes: string; claws: boolean; lengthCm: string; description: string };
  exampleImage: { path: string; alt: string; credit: string };
}

/**
 * Public fact sheet of a species: the public `species/{speciesId}` documents and every API
 * response. The catalogue entry keyed by `speciesId`, without internal fields (dataset labels).
 */
export type SpeciesSheet = Omit<Species, 'id' | 'datasetLabels'> & { speciesId: string };

export function speciesSheetOf(species: Species): SpeciesSheet {
  const { id, datasetLabels: _internal, ...sheet } = species;
  return { speciesId: id, ...sheet };
}

export interface SpeciesCatalog {
  version: number;
  species: Species[];
}

/** Ascii slug used as a stable species id (document id, model label, Storage folder). */
export const SPECIES_ID_PATTERN = /^[a-z]+(-[a-z]+)*$/;

/** The catalogue shipped with the project (bundled as a JSON module). */
export function loadSpeciesCatalog(): SpeciesCatalog {
  return catalogJson as SpeciesCatalog;
}

export function speciesIds(): string[] {
  return loadSpeciesCatalog().species.map((s) => s.id);
}

export function findSpecies(id: string): Species | undefined {
  return loadSpeciesCatalog().species.find((s) => s.id === id);
}

/**
 * Maps a dataset folder name (e.g. "Raton_laveur", "Écureuil") to a catalogue id:
 * lower-case, accents stripped, underscores and spaces to dashes; then checked against the
 * catalogue's declared dataset labels and ids. Returns undefined for unknown names.
 */
export function speciesIdFromLabel(label: string): string | undefined {
  const slug = slugify(label);
  for (const species of loadSpeciesCatalog().species) {
    if (species.id === slug) return species.id;
    if (species.datasetLabels.some((l) => slugify(l) === slug)) return species.id;
  }
  return undefined;
}

export function slugify(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .trim()
    .replace(/[\s_]+/g, '-')
    .replace(/[^a-z0-9-]/g, '')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}
