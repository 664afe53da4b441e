/**
 * Property-based fuzzing settings shared by the fuzz suites (fast-check: the reference
 * property-testing library for JavaScript, with shrinking and replayable seeds).
 *
 * The seed rotates: by default it is the UTC date (20261202), so each day explores other
 * inputs while every run of that day (a CI rerun, a developer reproducing it) sees the same
 * ones. It is printed once per test file, and fast-check prints it again with the shrunk
 * counterexample on failure: `WILDLENS_FUZZ_SEED=<seed> npm test -- unit -- fuzz` replays it.
 * A failure is a real bug to fix, never a reason to pin the seed.
 * WILDLENS_FUZZ_RUNS=<n> runs longer, e.g. WILDLENS_FUZZ_RUNS=5000 npm test -- unit -- fuzz.
 */
import type { Parameters } from 'fast-check';
import { HANG_BOUND_MS } from '../hang-bound.js';

/** The seed of this run: WILDLENS_FUZZ_SEED when it is an integer, else today's UTC date. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env, now = new Date()): number {
  const asked = Number(env.WILDLENS_FUZZ_SEED);
  if (env.WILDLENS_FUZZ_SEED?.trim() && Number.isSafeInteger(asked)) return asked;
  return Number(now.toISOString().slice(0, 10).replaceAll('-', ''));
}

const seed = fuzzSeed();
const runs = Number(process.env.WILDLENS_FUZZ_RUNS ?? 0);
let announced = false;

function runCount(defaultRuns: number): number {
  return Number.isInteger(runs) && runs > 0 ? runs : defaultRuns;
}

/**
 * fast-check parameters: `defaultRuns` (or WILDLENS_FUZZ_RUNS) from the rotating seed, with
 * shrinking on, so a failure is reported as its smallest counterexample.
 */
export function fuzzParameters<T>(defaultRuns: number): Parameters<T> {
  if (!announced) {
    announced = true;
    console.info(
      `[fuzz] graine ${seed}${process.env.WILDLENS_FUZZ_SEED ? '' : ' (date UTC du jour)'} — ` +
        `rejouer : WILDLENS_FUZZ_SEED=${seed} npm test -- unit -- fuzz`,
    );
  }
  return { seed, numRuns: runCount(defaultRuns) };
}

/**
 * Vitest timeout for a fuzz test: it only bounds a hang (HANG_BOUND_MS, as every test's), and
 * grows with the number of runs asked for (WILDLENS_FUZZ_RUNS), with room for shrinking a
 * failure (each shrinking step is one more run).
 */
export function fuzzTimeoutMs(defaultRuns: number, msPerRun: number): number {
  return Math.max(HANG_BOUND_MS, runCount(defaultRuns) * msPerRun * 4);
}
