import { describe, expect, it } from 'vitest';
import { findSpecies, speciesSheetOf } from '@wildlens/shared';
import { toSheet } from './species.js';

describe('toSheet', () => {
  it('shows the catalogue’s print traits and range, even on a document seeded without them', () => {
    const {
      track: _track,
      range: _range,
      ...older
    } = speciesSheetOf(findSpecies('raton-laveur') as NonNullable<ReturnType<typeof findSpecies>>);
    const sheet = toSheet('raton-laveur', { ...older, datasetLabels: ['Raton_laveur'] });
    expect(sheet.track.front.toes).toEqual([5]);
    expect(sheet.track.padShape).toBe('none');
    expect(sheet.range.regions.europe).toBe('local');
    expect(sheet.track.sources.length).toBeGreaterThan(0);
    expect(sheet).not.toHaveProperty('datasetLabels');
    expect(sheet.speciesId).toBe('raton-laveur');
  });
});
