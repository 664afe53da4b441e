import type { Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS, SPECIES_ID_PATTERN, type Species } from '@wildlens/shared';
import { fail } from '../common/errors.js';

export interface SpeciesDeps {
  db: Firestore;
}

/** Public fact sheet as served to the app (catalogue fields minus internal ones). */
export type SpeciesSheet = Omit<Species, 'datasetLabels'>;

function toSheet(data: FirebaseFirestore.DocumentData): SpeciesSheet {
  const { datasetLabels: _internal, ...sheet } = data as Species;
  return sheet;
}

export async function listSpecies(deps: SpeciesDeps): Promise<{ species: SpeciesSheet[] }> {
  const snap = await deps.db.collection(COLLECTIONS.species).orderBy('nameFr').get();
  return { species: snap.docs.map((d) => toSheet(d.data())) };
}

export async function getSpecies(data: unknown, deps: SpeciesDeps): Promise<SpeciesSheet> {
  const id = (data as { id?: unknown } | null)?.id;
  if (typeof id !== 'string' || !SPECIES_ID_PATTERN.test(id) || id.length > 40) {
    fail('invalid-argument', 'Identifiant d’espèce invalide : attendu par exemple « renard ».');
  }
  const snap = await deps.db.collection(COLLECTIONS.species).doc(id).get();
  if (!snap.exists) fail('not-found', `Espèce inconnue : « ${id} ».`);
  return toSheet(snap.data() ?? {});
}
