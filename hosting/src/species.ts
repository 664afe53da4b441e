/** The species catalogue, read from the public Firestore `species` collection. */
import { collection, getDocs } from 'firebase/firestore';
import { firebase } from './firebase.js';
import { h } from './ui.js';

export interface SpeciesSheet {
  speciesId: string;
  nameFr: string;
  nameEn?: string;
  latinName?: string;
  family?: string;
  order?: string;
  size?: string;
  region?: string;
  habitat?: string;
  description?: string;
  funFact?: string;
  track?: {
    description?: string;
    front?: FootPrint;
    hind?: FootPrint;
    claws?: 'usually' | 'sometimes' | 'rarely';
    padShape?: 'x' | 'c' | 'none';
    largerFoot?: 'front' | 'hind';
    labelCovers?: string;
    sources?: string[];
  };
  range?: { regions?: Record<string, string>; description?: string; sources?: string[] };
  exampleImage?: { path?: string; alt?: string; credit?: string };
}

interface FootPrint {
  toes: number[];
  lengthCm: [number, number];
  widthCm: [number, number];
}

const cm = (range: [number, number]) =>
  `${range.map((v) => String(v).replace('.', ',')).join('–')}`;
const footText = (f: FootPrint) =>
  `${f.toes.join(' ou ')} doigts, ${cm(f.lengthCm)} × ${cm(f.widthCm)} cm`;
const CLAWS = {
  usually: 'marquent le plus souvent',
  sometimes: 'marquent parfois',
  rarely: 'marquent rarement',
};
const PAD = {
  x: 'en X, qui ne touche aucune pelote (canidés)',
  c: 'en C autour du coussinet (félins)',
};
const REGIONS: Record<string, string> = {
  europe: 'Europe',
  'north-america': 'Amérique du Nord',
  'latin-america': 'Amérique latine',
  africa: 'Afrique',
  asia: 'Asie',
  oceania: 'Océanie',
};

/** The fact sheet's rows about the print and the range (label, French text), empty when absent. */
export function trackRows(sheet: SpeciesSheet): [string, string][] {
  const { track, range } = sheet;
  const absent = Object.entries(range?.regions ?? {})
    .filter(([, presence]) => presence === 'absent')
    .map(([region]) => REGIONS[region] ?? region);
  const rows: [string, string | undefined][] = [
    ['Patte avant', track?.front && footText(track.front)],
    ['Patte arrière', track?.hind && footText(track.hind)],
    ['Griffes', track?.claws && CLAWS[track.claws]],
    [
      'Espace entre doigts et coussinet',
      track?.padShape && track.padShape !== 'none' ? PAD[track.padShape] : undefined,
    ],
    [
      'Pied le plus grand',
      track?.largerFoot && (track.largerFoot === 'front' ? 'l’avant' : 'l’arrière'),
    ],
    ['Regroupe', track?.labelCovers],
    ['Présence', range?.description],
    ['Absent à l’état sauvage', absent.length ? absent.join(', ') : undefined],
    ['Sources', [...(track?.sources ?? []), ...(range?.sources ?? [])].join(' ; ') || undefined],
  ];
  return rows.filter((r): r is [string, string] => Boolean(r[1]));
}

let cache: Promise<SpeciesSheet[]> | undefined;

export function loadSpecies(): Promise<SpeciesSheet[]> {
  cache ??= (async () => {
    const { db } = await firebase();
    const snap = await getDocs(collection(db, 'species'));
    const list = snap.docs.map((d) => ({ ...(d.data() as SpeciesSheet), speciesId: d.id }));
    if (!list.length) {
      throw new Error('Le catalogue des espèces est vide : lancez « npm run seed ».');
    }
    return list.sort((a, b) => a.nameFr.localeCompare(b.nameFr, 'fr'));
  })();
  cache.catch(() => (cache = undefined));
  return cache;
}

export function speciesName(list: SpeciesSheet[], id: string | undefined): string {
  if (!id) return '—';
  return list.find((s) => s.speciesId === id)?.nameFr ?? id;
}

/** <option>s for a species <select>. */
export function speciesOptions(list: SpeciesSheet[], selected?: string): HTMLOptionElement[] {
  return list.map((s) =>
    h('option', { value: s.speciesId, selected: s.speciesId === selected }, s.nameFr),
  );
}
