/**
 * Training sources: where a training image came from. Every image records its source next to
 * its domain, so the dataset page, the training page and each model can say how much of the
 * training set came from admins' uploads, dataset imports and hikers' shared observations.
 */
export const TRAINING_SOURCES = {
  upload: 'dépôts des administrateurs',
  import: 'imports de jeux de données',
  observation: 'observations partagées par les randonneurs',
} as const;

export type TrainingSource = keyof typeof TRAINING_SOURCES;

/** Uploads without a declared source (and images recorded before sources existed). */
export const DEFAULT_TRAINING_SOURCE: TrainingSource = 'upload';

/** The source `value` names, or undefined when it names none. */
export function parseSource(value: unknown): TrainingSource | undefined {
  return typeof value === 'string' && Object.hasOwn(TRAINING_SOURCES, value)
    ? (value as TrainingSource)
    : undefined;
}
