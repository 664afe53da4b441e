import type { Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS, loadSpeciesCatalog, speciesSheetOf } from '@wildlens/shared';

/**
 * Writes the species catalogue (packages/shared/catalog.json) into Firestore as public fact
 * sheets (speciesSheetOf: no internal dataset labels in these world-readable documents).
 * Idempotent: each document is fully replaced, so re-running converges on the file's content.
 */
export async function seedSpeciesCatalog(db: Firestore): Promise<number> {
  const catalog = loadSpeciesCatalog();
  const batch = db.batch();
  for (const species of catalog.species) {
    batch.set(db.collection(COLLECTIONS.species).doc(species.id), {
      ...speciesSheetOf(species),
      catalogVersion: catalog.version,
    });
  }
  await batch.commit();
  return catalog.species.length;
}
