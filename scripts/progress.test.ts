import { describe, expect, it } from 'vitest';
import { formatDuration, progressLine, throttledProgress } from './progress.js';

describe('formatDuration', () => {
  it('reads like a person would say it', () => {
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(125_000)).toBe('2 min 05 s');
    expect(formatDuration(3_780_000)).toBe('1 h 03 min');
  });
});

describe('progressLine', () => {
  it('gives the count, the rate and the time left at that rate', () => {
    // 7 photos a second, 900 left → about 2 min 09 s.
    expect(progressLine(420, 1320, 7)).toBe('420/1320 photos · 7.0/s · reste ~2 min 09 s');
  });

  it('gives no estimate without a rate, and no time left at the end', () => {
    expect(progressLine(2, 1320)).toBe('2/1320 photos');
    expect(progressLine(1320, 1320, 6.6)).toBe('1320/1320 photos · 6.6/s');
  });
});

describe('throttledProgress', () => {
  it('prints at most every interval, and always the last item', () => {
    let t = 0;
    const lines: string[] = [];
    const report = throttledProgress(100, (l) => lines.push(l), { everyMs: 10_000, now: () => t });
    for (let done = 1; done <= 100; done++) {
      t += 500; // 2 photos a second → 50 s in all
      report(done);
    }
    // At 10, 20, 30, 40 s, then the 100th photo.
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe('20/100 photos · 2.0/s · reste ~40 s');
    expect(lines.at(-1)).toBe('100/100 photos · 2.0/s');
  });

  it('measures the rate over the recent window, not since a slow start', () => {
    let t = 0;
    const lines: string[] = [];
    const report = throttledProgress(1000, (l) => lines.push(l), {
      everyMs: 40_000,
      windowMs: 30_000,
      now: () => t,
    });
    t = 60_000; // one slow minute for the first photo (workers starting)
    report(1);
    for (let done = 2; done <= 401; done++) {
      t += 100; // then 10 photos a second
      report(done);
    }
    // Printed at 100 s: since the start 401 photos in 100 s ≈ 4/s; over the last 30 s, 10/s.
    expect(lines).toEqual(['1/1000 photos', '401/1000 photos · 10.0/s · reste ~1 min 00 s']);
  });
});
