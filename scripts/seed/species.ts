import type { Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS, loadSpeciesCatalog } from '@wildlens/shared';

/**
 * Writes the species catalogue (packages/shared/catalog.json) into Firestore. Idempotent:
 * each species document is fully replaced, so re-running converges on the file's content.
 */
export async function seedSpeciesCatalog(db: Firestore): Promise<number> {
  const catalog = loadSpeciesCatalog();
  const batch = db.batch();
  for (const species of catalog.species) {
    batch.set(db.collection(COLLECTIONS.species).doc(species.id), {
      ...species,
      catalogVersion: catalog.version,
    });
  }
  await batch.commit();
  return catalog.species.length;
}
