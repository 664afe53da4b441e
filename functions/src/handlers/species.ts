import type { Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS, findSpecies, type SpeciesSheet } from '@wildlens/shared';
import { fail } from '../common/errors.js';
import { noParameters, parseInput, speciesRequest } from '../api/schemas.js';

export interface SpeciesDeps {
  db: Firestore;
}

export type { SpeciesSheet };

/**
 * Public fact sheet as served to the app. The public documents hold nothing else
 * (scripts/seed/species.ts writes speciesSheetOf), but internal fields are dropped here too,
 * so a document written otherwise can never leak them. The print traits and the range come
 * from the catalogue the functions ship with (the dialogue answers against it), so documents
 * seeded before they existed show them too.
 */
export function toSheet(id: string, data: FirebaseFirestore.DocumentData): SpeciesSheet {
  const {
    datasetLabels: _labels,
    id: _id,
    catalogVersion: _version,
    ...sheet
  } = data as Record<string, unknown>;
  const catalogued = findSpecies(id);
  return {
    ...(sheet as Omit<SpeciesSheet, 'speciesId'>),
    ...(catalogued ? { track: catalogued.track, range: catalogued.range } : {}),
    speciesId: id,
  };
}

export async function listSpecies(
  data: unknown,
  deps: SpeciesDeps,
): Promise<{ species: SpeciesSheet[] }> {
  parseInput(noParameters, data);
  const snap = await deps.db.collection(COLLECTIONS.species).orderBy('nameFr').get();
  return { species: snap.docs.map((d) => toSheet(d.id, d.data())) };
}

export async function getSpecies(data: unknown, deps: SpeciesDeps): Promise<SpeciesSheet> {
  const { speciesId } = parseInput(speciesRequest, data);
  const snap = await deps.db.collection(COLLECTIONS.species).doc(speciesId).get();
  if (!snap.exists) fail('not-found', `Espèce inconnue : « ${speciesId} ».`);
  return toSheet(speciesId, snap.data() ?? {});
}
