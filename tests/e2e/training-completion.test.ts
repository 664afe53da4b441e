/**
 * The last step of a training run, against the real Firestore emulator: the run is completed
 * and the model promoted in one transaction, only while the run is still `running`, and the
 * promotion rule is applied against the model active at that moment.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { completeRunAndMaybePromote } from '../../trainer/src/registry.js';
import { adminDb, closeAdmin } from './support.js';

afterAll(closeAdmin);

const now = new Date('2026-11-26T12:00:00Z');

async function givenModel(version: string, top1: number, status = 'candidate'): Promise<void> {
  await adminDb()
    .doc(`models/${version}`)
    .set({ version, metrics: { top1 }, status, storagePrefix: `models/${version}/` });
}

async function givenRun(runId: string, status: string): Promise<void> {
  await adminDb().doc(`trainingRuns/${runId}`).set({ status, phase: 'exporting' });
}

async function givenActive(version: string, history: string[]): Promise<void> {
  await adminDb()
    .doc('config/activeModel')
    .set({ version, storagePrefix: `models/${version}/`, history });
}

/** The trainer's last step for `runId`, which trained `version` to `top1` on its holdout. */
function complete(
  runId: string,
  version: string,
  top1: number,
  runFields: Record<string, unknown>,
) {
  return completeRunAndMaybePromote(adminDb(), {
    runId,
    version,
    candidateTop1: top1,
    now,
    runFields,
  });
}

describe('completeRunAndMaybePromote', () => {
  it('leaves a run the reaper failed meanwhile as failed, and promotes nothing', async () => {
    await givenModel('v-active-1', 0.3, 'active');
    await givenActive('v-active-1', []);
    await givenModel('v-late', 0.9);
    await givenRun('run-reaped', 'failed');
    const result = await complete('run-reaped', 'v-late', 0.9, { phase: 'done' });
    expect(result).toEqual({ completed: false, runStatus: 'failed' });
    expect((await adminDb().doc('trainingRuns/run-reaped').get()).data()).toEqual({
      status: 'failed',
      phase: 'exporting',
    });
    expect((await adminDb().doc('config/activeModel').get()).get('version')).toBe('v-active-1');
    expect((await adminDb().doc('models/v-late').get()).get('status')).toBe('candidate');
  });

  it('judges against the model active now, not the one active when training started', async () => {
    // Someone promoted a better model while this run trained.
    await givenModel('v-better', 0.8, 'active');
    await givenActive('v-better', ['v-active-1']);
    await givenModel('v-worse', 0.5);
    await givenRun('run-worse', 'running');
    const worse = await complete('run-worse', 'v-worse', 0.5, { phase: 'done' });
    expect(worse).toEqual({ completed: true, promoted: false, activeTop1: 0.8 });
    const run = (await adminDb().doc('trainingRuns/run-worse').get()).data();
    expect(run).toMatchObject({ status: 'succeeded', promoted: false, modelVersion: 'v-worse' });
    expect(run?.notPromotedReason).toMatch(/inférieur au modèle actif \(80\.0 %\)/);
    expect((await adminDb().doc('config/activeModel').get()).get('version')).toBe('v-better');
  });

  it('promotes a candidate that is not worse, keeping the previous one for rollback', async () => {
    await givenModel('v-best', 0.85);
    await givenRun('run-best', 'running');
    const best = await complete('run-best', 'v-best', 0.85, { phase: 'done', durationMs: 1234 });
    expect(best).toMatchObject({ completed: true, promoted: true });
    const pointer = (await adminDb().doc('config/activeModel').get()).data();
    expect(pointer).toMatchObject({ version: 'v-best', history: ['v-active-1', 'v-better'] });
    expect((await adminDb().doc('models/v-best').get()).get('status')).toBe('active');
    expect((await adminDb().doc('models/v-better').get()).get('status')).toBe('retired');
    expect((await adminDb().doc('trainingRuns/run-best').get()).data()).toMatchObject({
      status: 'succeeded',
      promoted: true,
      durationMs: 1234,
      phase: 'done',
    });
  });
});
