import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BENCHMARK,
  benchmarkLabels,
  benchmarkPosition,
  benchmarkReport,
  isBenchmarkGroup,
  pairedOutcomes,
  scoreBenchmark,
  splitBenchmark,
  type BenchmarkAnswer,
  type Predictor,
} from './benchmark.js';
import { verdictFiguresByDomain } from '@wildlens/model';

/** Images as the trainer lists them: content-hash ids, group = the recorded group or the id. */
function images(count: number, from = 0, groupOf?: (i: number) => string) {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    const id = createHash('sha256').update(`photo ${i}`).digest('hex');
    return { id, speciesId: `espece-${i % 13}`, group: groupOf?.(i) ?? id };
  });
}

const sideOf = (list: { id: string }[], benchmark: { id: string }[]) => {
  const inBenchmark = new Set(benchmark.map((b) => b.id));
  return Object.fromEntries(list.map((i) => [i.id, inBenchmark.has(i.id)]));
};

describe('frozen benchmark split', () => {
  it('is deterministic and takes about the documented fraction of groups', () => {
    const all = images(20_000);
    const { training, benchmark } = splitBenchmark(all);
    expect(training.length + benchmark.length).toBe(all.length);
    expect(benchmark.length / all.length).toBeGreaterThan(BENCHMARK.fraction - 0.01);
    expect(benchmark.length / all.length).toBeLessThan(BENCHMARK.fraction + 0.01);
    expect(splitBenchmark(all).benchmark).toEqual(benchmark);
    for (const i of all.slice(0, 50)) {
      const position = benchmarkPosition(i.group);
      expect(position).toBeGreaterThanOrEqual(0);
      expect(position).toBeLessThan(1);
      expect(isBenchmarkGroup(i.group)).toBe(position < BENCHMARK.fraction);
    }
  });

  it('never moves a photo when photos are added, removed or listed in another order', () => {
    const before = images(2_000);
    const after = [...images(3_000, 2_000), ...before.slice(100)].reverse();
    const sidesBefore = sideOf(before, splitBenchmark(before).benchmark);
    const sidesAfter = sideOf(after, splitBenchmark(after).benchmark);
    for (const image of before.slice(100)) expect(sidesAfter[image.id]).toBe(sidesBefore[image.id]);
    // The same photo relabelled keeps its side: the label is not part of the key.
    const relabelled = before.map((i) => ({ ...i, speciesId: 'autre' }));
    expect(sideOf(relabelled, splitBenchmark(relabelled).benchmark)).toEqual(sidesBefore);
  });

  it('keeps all images of a group on the same side', () => {
    // 3,000 crops cut from 300 source photos.
    const crops = images(3_000, 0, (i) => `source-${Math.floor(i / 10)}`);
    const sides = sideOf(crops, splitBenchmark(crops).benchmark);
    const byGroup = new Map<string, Set<boolean>>();
    for (const c of crops)
      byGroup.set(c.group, (byGroup.get(c.group) ?? new Set()).add(sides[c.id] as boolean));
    expect([...byGroup.values()].every((s) => s.size === 1)).toBe(true);
    const benchmarkGroups = [...byGroup.values()].filter((s) => s.has(true)).length;
    expect(benchmarkGroups).toBeGreaterThan(20);
    expect(benchmarkGroups).toBeLessThan(80);
  });
});

describe('benchmark figures', () => {
  const photos = [
    { id: 'a', speciesId: 'loup', domain: 'crop' },
    { id: 'b', speciesId: 'lynx', domain: 'crop' },
    { id: 'c', speciesId: 'loup', domain: 'field' },
    { id: 'd', speciesId: 'ours', domain: 'field' },
  ];
  const answer = (
    top1: string,
    verdict: BenchmarkAnswer['verdict'] = 'identified',
    second = top1 === 'loup' ? 'lynx' : 'loup',
  ): BenchmarkAnswer => ({ verdict, top1, probabilities: { [top1]: 0.7, [second]: 0.3 } });
  // The candidate knows `ours`; the active model does not.
  const candidate = [answer('loup'), answer('loup', 'uncertain'), answer('loup'), answer('ours')];
  const active = [
    answer('loup'),
    answer('lynx'),
    answer('lynx', 'not_a_footprint'),
    answer('loup', 'identified', 'lynx'),
  ];

  it('scores each model per domain on the union of the labels', () => {
    const labels = benchmarkLabels(photos, [candidate, active]);
    expect(labels).toEqual(['loup', 'lynx', 'ours']);
    const c = verdictFiguresByDomain(benchmarkReport(photos, candidate, labels));
    expect(c).toMatchObject({ n: 4, top1: 0.75, top3: 1, identifiedCoverage: 0.75 });
    expect(c.identifiedPrecision).toBe(1);
    expect(c.byDomain.crop).toMatchObject({ n: 2, top1: 0.5, identifiedCoverage: 0.5 });
    expect(c.byDomain.field).toMatchObject({ n: 2, top1: 1, falseRejectRate: 0 });
    const a = verdictFiguresByDomain(benchmarkReport(photos, active, labels));
    // `ours` is unknown to the active model: probability 0 (in its top 3 only as 3 labels exist).
    expect(a).toMatchObject({ n: 4, top1: 0.5, top3: 1 });
    expect(a.byDomain.field).toMatchObject({ top1: 0, falseRejectRate: 0.5 });
    expect(Object.keys(a)).not.toContain('confusion');
  });

  it('pairs the two models photo by photo', () => {
    expect(pairedOutcomes(photos, candidate, active)).toEqual([
      { domain: 'crop', candidateCorrect: true, activeCorrect: true },
      { domain: 'crop', candidateCorrect: false, activeCorrect: true },
      { domain: 'field', candidateCorrect: true, activeCorrect: false },
      { domain: 'field', candidateCorrect: true, activeCorrect: false },
    ]);
  });

  it('reads each photo once and gives the same bytes to every model', async () => {
    const reads: string[] = [];
    const seen: string[][] = [[], []];
    const model = (m: number, top1: string): Predictor => ({
      predict: async (bytes) => {
        (seen[m] as string[]).push(bytes.toString());
        return {
          verdict: 'uncertain',
          top: [{ speciesId: top1, probability: 1 }],
          probabilities: { [top1]: 1 },
          oodScore: 1,
          timingsMs: { preprocess: 0, inference: 0 },
        };
      },
    });
    const { answers } = await scoreBenchmark(
      photos,
      async (p) => {
        reads.push(p.id);
        return Buffer.from(p.id);
      },
      [model(0, 'loup'), model(1, 'lynx')],
    );
    expect(reads.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(seen.map((s) => s.sort())).toEqual([
      ['a', 'b', 'c', 'd'],
      ['a', 'b', 'c', 'd'],
    ]);
    expect(answers.map((list) => list.map((a) => a.top1))).toEqual([
      ['loup', 'loup', 'loup', 'loup'],
      ['lynx', 'lynx', 'lynx', 'lynx'],
    ]);
  });

  it('leaves out a photo erased under the run, for every model', async () => {
    const model = (top1: string): Predictor => ({
      predict: async () => ({
        verdict: 'uncertain',
        top: [{ speciesId: top1, probability: 1 }],
        probabilities: { [top1]: 1 },
        oodScore: 1,
        timingsMs: { preprocess: 0, inference: 0 },
      }),
    });
    const scored = await scoreBenchmark(
      photos,
      async (p) => (p.id === 'b' ? undefined : Buffer.from(p.id)),
      [model('loup'), model('lynx')],
    );
    expect(scored.photos.map((p) => p.id)).toEqual(['a', 'c', 'd']);
    expect(scored.answers.map((list) => list.map((a) => a.top1))).toEqual([
      ['loup', 'loup', 'loup'],
      ['lynx', 'lynx', 'lynx'],
    ]);
  });
});
