/**
 * « N nouvelles photos depuis le modèle actif » on the training page, by source, and whether
 * the scheduled retraining is on (getTrainingBacklog: the same count the scheduler uses).
 */
import { call } from './firebase.js';
import { formatNumber } from './ui.js';

interface TrainingBacklog {
  activeModel: { version: string; since: string } | null;
  newImages: { total: number; bySource: { upload: number; import: number; observation: number } };
  autoRetrain: { minNew: number };
}

const photos = (n: number, adjective = ''): string =>
  `${formatNumber(n)} ${adjective ? `${n > 1 ? `${adjective}s` : adjective} ` : ''}photo${n > 1 ? 's' : ''}`;
const of = (n: number, singular: string, pluralForm: string): string =>
  `${formatNumber(n)} ${n > 1 ? pluralForm : singular}`;

export async function renderBacklog(target: HTMLElement): Promise<void> {
  const backlog = await call<unknown, TrainingBacklog>('getTrainingBacklog', {});
  const { total, bySource } = backlog.newImages;
  const sources = [
    of(bySource.upload, 'dépôt', 'dépôts'),
    of(bySource.import, 'import', 'imports'),
    of(bySource.observation, 'observation', 'observations'),
  ].join(', ');
  const minNew = backlog.autoRetrain.minNew;
  target.dataset.total = String(total);
  target.dataset.observation = String(bySource.observation);
  target.textContent = [
    backlog.activeModel
      ? `${photos(total, 'nouvelle')} depuis le modèle actif (${sources}).`
      : `${photos(total)} dans le jeu de données et aucun modèle actif (${sources}).`,
    minNew > 0
      ? `Réentraînement automatique dès ${photos(minNew, 'nouvelle')}.`
      : 'Réentraînement automatique désactivé.',
  ].join(' ');
}
