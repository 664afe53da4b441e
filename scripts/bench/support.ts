/** What the emulator-suite benchmarks (bench:identify, bench:load) share. */
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../emulators/stack.js';
import { execUnderEmulators } from '../emulators/suite.js';

/**
 * Outside the emulators, plans the stack like `npm test`, re-runs the calling script under
 * `firebase emulators:exec` and exits with its code; inside, returns at once.
 */
export async function ensureUnderEmulators(
  scriptUrl: string,
  args: string[],
  quiet: boolean,
): Promise<void> {
  if (process.env.FIREBASE_EMULATOR_HUB) return;
  const self = fileURLToPath(scriptUrl);
  process.exit(
    await execUnderEmulators(`${REPO_ROOT}/node_modules/.bin/tsx ${self} ${args.join(' ')}`, {
      quiet,
    }),
  );
}

/** Nearest-rank percentile of ascending `sorted` values. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}
