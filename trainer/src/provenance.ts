/**
 * Provenance of a model's training set: how many images of each source (admins' uploads,
 * dataset imports, hikers' shared observations) and of each domain (crop, field, a dataset's
 * name) it was trained on (the frozen benchmark's photos are not trained on, so not counted). Recorded in its manifest (`training.provenance`) and its registry
 * document (`provenance`), so every model says what it learnt from.
 */
import type { DocumentSnapshot } from 'firebase-admin/firestore';
import { DEFAULT_TRAINING_SOURCE, parseSource, type TrainingSource } from '@wildlens/shared';

export interface ImageProvenance {
  source: TrainingSource;
  domain: string;
}

export interface ProvenanceCounts {
  bySource: Partial<Record<TrainingSource, number>>;
  byDomain: Record<string, number>;
}

/** An image's source; images recorded before sources existed are uploads. */
export function imageSource(image: DocumentSnapshot): TrainingSource {
  return parseSource(image.get('source')) ?? DEFAULT_TRAINING_SOURCE;
}

export function provenanceCounts(images: ImageProvenance[]): ProvenanceCounts {
  const counts: ProvenanceCounts = { bySource: {}, byDomain: {} };
  for (const { source, domain } of images) {
    counts.bySource[source] = (counts.bySource[source] ?? 0) + 1;
    counts.byDomain[domain] = (counts.byDomain[domain] ?? 0) + 1;
  }
  return counts;
}
