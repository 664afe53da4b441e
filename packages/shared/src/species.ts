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
  track: TrackTraits;
  range: SpeciesRange;
  exampleImage: { path: string; alt: string; credit: string };
}

/** A [min, max] range in centimetres. */
export type CmRange = [number, number];

/** One foot's print: the toe counts that commonly register, and typical size (claws excluded). */
export interface FootPrint {
  /** Toe counts a clear print commonly shows (e.g. [4, 5] when the thumb registers only sometimes). */
  toes: number[];
  lengthCm: CmRange;
  widthCm: CmRange;
}

/** How often claw marks show in a print. */
export type ClawMarks = 'usually' | 'sometimes' | 'rarely';

/**
 * The negative space between toes and the main pad: an X that touches no pad (canids), a C /
 * crescent around the pad (felids), or neither (every other family: not applicable).
 */
export type PadShape = 'x' | 'c' | 'none';

/**
 * What a print looks like, for everything the label holds (a dataset label can cover several
 * species, e.g. "lynx" photos include bobcats): the fact sheets show it, the dialogue's
 * questions are answered against it (packages/shared/src/dialogue).
 */
export interface TrackTraits {
  /** Prose for the fact sheet. */
  description: string;
  front: FootPrint;
  hind: FootPrint;
  claws: ClawMarks;
  padShape: PadShape;
  largerFoot: 'front' | 'hind';
  /** The species the dataset label really holds (French, shown on the sheet). */
  labelCovers: string;
  /** Field guides the figures come from. */
  sources: string[];
}

/** Coarse world regions (see dialogue/regions.ts for their boundaries). */
export const REGION_IDS = [
  'europe',
  'north-america',
  'latin-america',
  'africa',
  'asia',
  'oceania',
] as const;
export type RegionId = (typeof REGION_IDS)[number];

/** Presence in a region: over much of it, in parts of it only, or not in the wild. */
export type Presence = 'widespread' | 'local' | 'absent';

/** Where the label's species live in the wild (native or established), region by region. */
export interface SpeciesRange {
  regions: Record<RegionId, Presence>;
  /** Prose for the fact sheet (French). */
  description: string;
  sources: string[];
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
