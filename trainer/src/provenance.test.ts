import { describe, expect, it } from 'vitest';
import { imageSource, provenanceCounts } from './provenance.js';

const doc = (fields: Record<string, unknown>) =>
  ({ get: (name: string) => fields[name] }) as unknown as Parameters<typeof imageSource>[0];

describe('training-set provenance', () => {
  it('reads the source, images recorded before sources existed being uploads', () => {
    expect(imageSource(doc({ source: 'observation' }))).toBe('observation');
    expect(imageSource(doc({}))).toBe('upload');
    expect(imageSource(doc({ source: 'toString' }))).toBe('upload');
  });

  it('counts images by source and by domain', () => {
    expect(
      provenanceCounts([
        { source: 'upload', domain: 'crop' },
        { source: 'upload', domain: 'crop' },
        { source: 'import', domain: 'footprints-dev' },
        { source: 'observation', domain: 'field' },
      ]),
    ).toEqual({
      bySource: { upload: 2, import: 1, observation: 1 },
      byDomain: { crop: 2, 'footprints-dev': 1, field: 1 },
    });
  });
});
