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
  track?: { toes?: string; claws?: boolean; lengthCm?: string; description?: string };
  exampleImage?: { path?: string; alt?: string; credit?: string };
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
