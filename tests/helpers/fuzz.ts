/**
 * Property-based fuzzing settings shared by the fuzz suites (fast-check: the reference
 * property-testing library for JavaScript, with shrinking and replayable seeds). CI runs a
 * fixed seed, so a failure is reproducible; WILDLENS_FUZZ_RUNS=<n> runs longer (and
 * WILDLENS_FUZZ_SEED=<n> explores other inputs), e.g.
 *   WILDLENS_FUZZ_RUNS=5000 npm test -- unit -- fuzz
 */
import type { Parameters } from 'fast-check';

const seed = Number(process.env.WILDLENS_FUZZ_SEED ?? 20_261_130);
const runs = Number(process.env.WILDLENS_FUZZ_RUNS ?? 0);

/** fast-check parameters: `defaultRuns` in CI, or WILDLENS_FUZZ_RUNS when set. */
export function fuzzParameters<T>(defaultRuns: number): Parameters<T> {
  return {
    seed: Number.isInteger(seed) ? seed : 20_261_130,
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    endOnFailure: true,
  };
}

/** Vitest timeout for a fuzz test: scales with the number of runs asked for. */
export function fuzzTimeoutMs(defaultRuns: number, msPerRun: number): number {
  const n = Number.isInteger(runs) && runs > 0 ? runs : defaultRuns;
  return Math.max(60_000, n * msPerRun * 3);
}
