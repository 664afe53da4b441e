import { describe, expect, it } from 'vitest';
import { summaryLine, type StateCounts } from './uploads.js';

const none: StateCounts = {
  ready: 0,
  invalid: 0,
  requesting: 0,
  queued: 0,
  uploading: 0,
  uploaded: 0,
  failed: 0,
  accepted: 0,
  duplicate: 0,
  conflict: 0,
  rejected: 0,
};

describe('the upload summary', () => {
  it('is one line naming only the outcomes that occur, with French plurals', () => {
    expect(summaryLine(0, none)).toBe('Aucune photo sélectionnée.');
    expect(summaryLine(1, { ...none, ready: 1 })).toBe('1 fichier : 1 prêt à envoyer.');
    expect(summaryLine(12, { ...none, accepted: 8, duplicate: 2, rejected: 1, invalid: 1 })).toBe(
      '12 fichiers : 8 acceptés, 2 doublons, 2 refusés.',
    );
    expect(summaryLine(5, { ...none, queued: 2, uploading: 1, uploaded: 1, failed: 1 })).toBe(
      '5 fichiers : 3 en cours d’envoi, 1 en traitement, 1 échec d’envoi.',
    );
  });
});
