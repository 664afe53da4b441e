/**
 * The last step of a training run, against the real Firestore emulator: the run is completed
 * and the model promoted in one transaction, only while the run is still `running`, and the
 * promotion decision holds only if the model active at that moment is the one the candidate was
 * compared with on the benchmark.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { decidePromotion, type PairedOutcome } from '../../trainer/src/promotion.js';
import { completeRunAndMaybePromote } from '../../trainer/src/registry.js';
import { adminDb, closeAdmin } from './support.js';

afterAll(closeAdmin);

const now = new Date('2026-11-26T12:00:00Z');

async function givenModel(version: string, status = 'candidate'): Promise<void> {
  await adminDb()
    .doc(`models/${version}`)
    .set({ version, status, storagePrefix: `models/${version}/` });
}

async function givenRun(runId: string, status: string): Promise<void> {
  await adminDb().doc(`trainingRuns/${runId}`).set({ status, phase: 'exporting' });
}

async function givenActive(version: string, history: string[]): Promise<void> {
  await adminDb()
    .doc('config/activeModel')
    .set({ version, storagePrefix: `models/${version}/`, history });
}

/** The trainer's verdict after scoring both models on 40 benchmark photos. */
function judged(comparedWith: string, candidateOnly: number, activeOnly: number) {
  const outcomes: PairedOutcome[] = Array.from({ length: 40 }, (_, i) => ({
    domain: 'field',
    candidateCorrect: i < 10 || (i >= 20 && i < 20 + candidateOnly),
    activeCorrect: i < 10 || (i >= 30 && i < 30 + activeOnly),
  }));
  return decidePromotion({ kind: 'scored', version: comparedWith, outcomes, sawBenchmark: false });
}

/** The trainer's last step for `runId`, which trained `version` and judged it so. */
function complete(
  runId: string,
  version: string,
  decision: ReturnType<typeof decidePromotion>,
  runFields: Record<string, unknown>,
) {
  return completeRunAndMaybePromote(adminDb(), { runId, version, decision, now, runFields });
}

describe('completeRunAndMaybePromote', () => {
  it('leaves a run the reaper failed meanwhile as failed, and promotes nothing', async () => {
    await givenModel('v-active-1', 'active');
    await givenActive('v-active-1', []);
    await givenModel('v-late');
    await givenRun('run-reaped', 'failed');
    const result = await complete('run-reaped', 'v-late', judged('v-active-1', 10, 0), {
      phase: 'done',
    });
    expect(result).toEqual({ completed: false, runStatus: 'failed' });
    expect((await adminDb().doc('trainingRuns/run-reaped').get()).data()).toEqual({
      status: 'failed',
      phase: 'exporting',
    });
    expect((await adminDb().doc('config/activeModel').get()).get('version')).toBe('v-active-1');
    expect((await adminDb().doc('models/v-late').get()).data()).not.toHaveProperty('promotion');
  });

  it('promotes nothing when another model became active while the candidate was compared', async () => {
    // Compared with (and clearly better than) v-active-1, but an admin promoted v-other meanwhile.
    await givenModel('v-other', 'active');
    await givenActive('v-other', ['v-active-1']);
    await givenModel('v-stale');
    await givenRun('run-stale', 'running');
    const decision = judged('v-active-1', 10, 0);
    expect(decision.promote).toBe(true);
    const result = await complete('run-stale', 'v-stale', decision, { phase: 'done' });
    expect(result).toMatchObject({ completed: true, promoted: false });
    const run = (await adminDb().doc('trainingRuns/run-stale').get()).data();
    expect(run).toMatchObject({ status: 'succeeded', promoted: false, modelVersion: 'v-stale' });
    expect(run?.promotion).toMatchObject({ rule: 'active-changed', comparedWith: 'v-active-1' });
    expect(run?.notPromotedReason).toMatch(/« v-active-1 » → « v-other »/);
    expect((await adminDb().doc('models/v-stale').get()).get('promotion.rule')).toBe(
      'active-changed',
    );
    expect((await adminDb().doc('config/activeModel').get()).get('version')).toBe('v-other');
  });

  it('keeps the active model on a tie and stores the test on the run and the model', async () => {
    await givenModel('v-tie');
    await givenRun('run-tie', 'running');
    const result = await complete('run-tie', 'v-tie', judged('v-other', 3, 2), { phase: 'done' });
    expect(result).toMatchObject({ completed: true, promoted: false });
    const run = (await adminDb().doc('trainingRuns/run-tie').get()).data();
    expect(run?.promotion).toMatchObject({
      rule: 'tie',
      test: { n: 40, candidateOnly: 3, activeOnly: 2, candidateTop1: 0.325, activeTop1: 0.3 },
    });
    expect(run?.notPromotedReason).toMatch(/^Égalité dans le bruit/);
    expect((await adminDb().doc('models/v-tie').get()).get('promotion.byDomain.field.n')).toBe(40);
    expect((await adminDb().doc('config/activeModel').get()).get('version')).toBe('v-other');
  });

  it('promotes a candidate better beyond noise, keeping the previous one for rollback', async () => {
    await givenModel('v-best');
    await givenRun('run-best', 'running');
    const best = await complete('run-best', 'v-best', judged('v-other', 10, 0), {
      phase: 'done',
      durationMs: 1234,
    });
    expect(best).toMatchObject({ completed: true, promoted: true });
    const pointer = (await adminDb().doc('config/activeModel').get()).data();
    expect(pointer).toMatchObject({ version: 'v-best', history: ['v-active-1', 'v-other'] });
    expect((await adminDb().doc('models/v-best').get()).data()).toMatchObject({
      status: 'active',
      promotion: { rule: 'better', promote: true },
    });
    expect((await adminDb().doc('models/v-other').get()).get('status')).toBe('retired');
    expect((await adminDb().doc('trainingRuns/run-best').get()).data()).toMatchObject({
      status: 'succeeded',
      promoted: true,
      durationMs: 1234,
      phase: 'done',
    });
  });
  it('run again after it committed (a retry after a lost answer), changes nothing and says the same', async () => {
    const before = {
      pointer: (await adminDb().doc('config/activeModel').get()).data(),
      run: (await adminDb().doc('trainingRuns/run-best').get()).data(),
    };
    const again = await complete('run-best', 'v-best', judged('v-other', 10, 0), {
      phase: 'done',
      durationMs: 1234,
    });
    expect(again).toMatchObject({
      completed: true,
      promoted: true,
      promotion: { rule: 'better', comparedWith: 'v-other' },
    });
    expect((await adminDb().doc('config/activeModel').get()).data()).toEqual(before.pointer);
    expect((await adminDb().doc('trainingRuns/run-best').get()).data()).toEqual(before.run);
  });
});
