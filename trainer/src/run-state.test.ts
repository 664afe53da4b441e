import { describe, expect, it } from 'vitest';
import { canTransition, isStaleRun, modelVersionFor, toDate } from './run-state.js';

describe('run states', () => {
  it('allows only forward transitions', () => {
    expect(canTransition('queued', 'running')).toBe(true);
    expect(canTransition('queued', 'failed')).toBe(true);
    expect(canTransition('running', 'succeeded')).toBe(true);
    expect(canTransition('queued', 'succeeded')).toBe(false);
    expect(canTransition('succeeded', 'failed')).toBe(false);
    expect(canTransition('failed', 'running')).toBe(false);
  });

  it('declares stale a run without heartbeat or never started', () => {
    const now = new Date('2026-11-26T10:10:00Z');
    const limits = { heartbeatTimeoutMs: 120_000, queuedTimeoutMs: 300_000 };
    const at = (iso: string) => new Date(iso);
    expect(
      isStaleRun({ status: 'running', heartbeatAt: at('2026-11-26T10:09:00Z') }, now, limits),
    ).toBe(false);
    expect(
      isStaleRun({ status: 'running', heartbeatAt: at('2026-11-26T10:07:00Z') }, now, limits),
    ).toBe(true);
    expect(
      isStaleRun({ status: 'running', startedAt: at('2026-11-26T10:09:30Z') }, now, limits),
    ).toBe(false);
    expect(
      isStaleRun({ status: 'queued', createdAt: at('2026-11-26T10:06:00Z') }, now, limits),
    ).toBe(false);
    expect(
      isStaleRun({ status: 'queued', createdAt: at('2026-11-26T10:04:00Z') }, now, limits),
    ).toBe(true);
    expect(isStaleRun({ status: 'succeeded' }, now, limits)).toBe(false);
  });
});

describe('model versions', () => {
  it('are UTC timestamps safe in paths, suffixed by the run id prefix', () => {
    expect(modelVersionFor(new Date('2026-11-26T10:40:12.345Z'), 'AbC-d_ef0123456')).toBe(
      '2026-11-26T10-40-12Z-AbCdef01',
    );
  });

  it('sort chronologically as strings', () => {
    const a = modelVersionFor(new Date('2026-11-26T09:59:59Z'), 'z');
    const b = modelVersionFor(new Date('2026-11-26T10:00:00Z'), 'a');
    expect([b, a].sort()).toEqual([a, b]);
  });
});

it('reads Firestore timestamps and dates', () => {
  const d = new Date();
  expect(toDate(d)).toBe(d);
  expect(toDate({ toDate: () => d })).toBe(d);
  expect(toDate('x')).toBeUndefined();
});
