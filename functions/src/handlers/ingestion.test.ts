import { describe, expect, it } from 'vitest';
import { parseIncomingPath, provenanceOf, safeFileName, uploadIdFor } from './ingestion.js';

describe('parseIncomingPath', () => {
  it('reads species, batch and file name from incoming/ paths', () => {
    expect(parseIncomingPath('incoming/renard/lot-1/photo.jpg')).toEqual({
      speciesId: 'renard',
      batchId: 'lot-1',
      fileName: 'photo.jpg',
    });
    expect(parseIncomingPath('incoming/loup/p.jpg')).toEqual({
      speciesId: 'loup',
      batchId: 'sans-lot',
      fileName: 'p.jpg',
    });
  });

  it('ignores the trigger’s own outputs and malformed paths', () => {
    expect(parseIncomingPath('training/renard/abc.jpg')).toBeUndefined();
    expect(parseIncomingPath('rejected/x/y.jpg')).toBeUndefined();
    expect(parseIncomingPath('incoming/renard/')).toBeUndefined();
    expect(parseIncomingPath('incoming/a/b/c/d.jpg')).toBeUndefined();
  });
});

describe('safeFileName', () => {
  it('never lets a name act as a path', () => {
    expect(safeFileName('../../etc/passwd')).toBe('passwd');
    expect(safeFileName('..\\..\\win.ini')).toBe('win.ini');
    expect(safeFileName('.htaccess')).toBe('htaccess');
    expect(safeFileName('Écureuil roux (1).JPG')).toBe('Écureuil_roux_1_.JPG');
    expect(safeFileName('')).toBe('fichier');
  });
});

describe('uploadIdFor', () => {
  it('is deterministic per object name', () => {
    expect(uploadIdFor('incoming/a/b.jpg')).toBe(uploadIdFor('incoming/a/b.jpg'));
    expect(uploadIdFor('incoming/a/b.jpg')).not.toBe(uploadIdFor('incoming/a/c.jpg'));
  });
});

describe('provenanceOf', () => {
  const observation = {
    source: 'observation',
    observationId: 'obs1',
    ownerUid: 'uid1',
    reviewerUid: 'admin1',
    candidateId: 'c'.repeat(32),
  };

  it('reads the source; an upload without one is an admin upload', () => {
    expect(provenanceOf(undefined)).toEqual({ source: 'upload' });
    expect(provenanceOf({ source: 'import' })).toEqual({ source: 'import' });
    expect(provenanceOf({ source: '__proto__' })).toEqual({ source: 'upload' });
    expect(provenanceOf(observation)).toEqual({
      source: 'observation',
      observation: {
        observationId: 'obs1',
        ownerUid: 'uid1',
        reviewerUid: 'admin1',
        candidateId: 'c'.repeat(32),
      },
    });
  });

  it('refuses an observation that does not say whose, which and who accepted it', () => {
    for (const field of ['observationId', 'ownerUid', 'reviewerUid', 'candidateId']) {
      expect(provenanceOf({ ...observation, [field]: '' })).toEqual({
        invalid: `Provenance d’observation incomplète (${field}).`,
      });
    }
    expect(provenanceOf({ ...observation, ownerUid: 'a/b' })).toHaveProperty('invalid');
  });
});
