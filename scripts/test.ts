/**
 * `npm test`: the whole quality gate, as CI runs it. Steps stop at the first failure and the
 * exit code says whether everything passed:
 *   1. secrets check, 2. lint (ESLint) and formatting (Prettier), 3. build + typecheck,
 *   4. unit and handler tests (Vitest), 5. end-to-end tests inside `firebase emulators:exec`,
 *   6. end-to-end tests of `npm start` itself (saved state round trip), each starting its stack.
 * It ends with a table per step (tests passed, failed, skipped and why) and a last line that
 * says what ran: never "all green" when a step was not run or tests were skipped.
 * `npm test -- unit` (or lint, typecheck, e2e, stack) runs a subset; arguments after a second
 * `--` go to Vitest, e.g. `npm test -- e2e -- tests/e2e/foundation.test.ts`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './emulators/stack.js';
import { execUnderEmulators } from './emulators/suite.js';
import { readVitestReport, renderSummary, type StepResult } from './test-summary.js';

const bin = (name: string): string => `${REPO_ROOT}/node_modules/.bin/${name}`;
const REPORTS_DIR = path.join(REPO_ROOT, '.artifacts', 'test-reports');

function run(cmd: string, args: string[], env: Record<string, string> = {}): boolean {
  console.log(`  $ ${[cmd, ...args].join(' ')}`);
  const res = spawnSync(cmd, args, {
    cwd: REPO_ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  return res.status === 0;
}

/** Vitest with its usual console output plus a JSON report read for the summary. */
function vitestArgs(project: string, report: string, extra: string[]): string[] {
  return [
    'run',
    '--project',
    project,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...extra,
  ];
}

const STEPS = {
  secrets: 'Secrets',
  lint: 'Lint et format',
  typecheck: 'Build et typecheck',
  unit: 'Tests unitaires',
  e2e: 'Tests e2e (Emulator Suite)',
  stack: 'Tests e2e de npm start',
} as const;
type Step = keyof typeof STEPS;

const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const wanted = split === -1 ? argv : argv.slice(0, split);
const extraVitestArgs = split === -1 ? [] : argv.slice(split + 1);
const allSteps = Object.keys(STEPS) as Step[];
const selected = wanted.length ? allSteps.filter((s) => wanted.includes(s)) : allSteps;

async function runStep(step: Step): Promise<Omit<StepResult, 'title' | 'seconds'>> {
  const report = path.join(REPORTS_DIR, `${step}.json`);
  rmSync(report, { force: true });
  switch (step) {
    case 'secrets':
      return { outcome: run(bin('tsx'), ['scripts/check-secrets.ts']) ? 'ok' : 'failed' };
    case 'lint':
      return {
        outcome:
          run(bin('eslint'), ['--max-warnings=0', '.']) && run(bin('prettier'), ['--check', '.'])
            ? 'ok'
            : 'failed',
      };
    case 'typecheck':
      return {
        outcome:
          run(bin('tsc'), ['-b']) && run(bin('tsc'), ['-p', 'tsconfig.tools.json'])
            ? 'ok'
            : 'failed',
      };
    case 'unit': {
      const ok = run(bin('vitest'), vitestArgs('unit', report, extraVitestArgs));
      return { outcome: ok ? 'ok' : 'failed', tests: readVitestReport(report) };
    }
    case 'e2e': {
      const code = await execUnderEmulators(
        [bin('vitest'), ...vitestArgs('e2e', report, extraVitestArgs)].join(' '),
        // Each test file sets the active model it needs: no 30 s pointer cache in between.
        { env: { WILDLENS_MODEL_RECHECK_SECONDS: '0' } },
      );
      return { outcome: code === 0 ? 'ok' : 'failed', tests: readVitestReport(report) };
    }
    case 'stack': {
      // Outside emulators:exec: each test starts (and stops) `npm start`'s stack on the suite's ports.
      const ok = run(bin('vitest'), vitestArgs('stack', report, extraVitestArgs));
      return { outcome: ok ? 'ok' : 'failed', tests: readVitestReport(report) };
    }
  }
}

mkdirSync(REPORTS_DIR, { recursive: true });
const results: StepResult[] = [];
let failed = false;
for (const step of allSteps) {
  const title = STEPS[step];
  if (!selected.includes(step)) {
    results.push({ title, outcome: 'not-selected' });
    continue;
  }
  if (failed) {
    results.push({ title, outcome: 'not-run' });
    continue;
  }
  console.log(`\n▶ ${title}`);
  const started = Date.now();
  const result = await runStep(step);
  const seconds = (Date.now() - started) / 1000;
  results.push({ title, seconds, ...result });
  console.log(`${result.outcome === 'ok' ? '✔' : '✖'} ${title} (${seconds.toFixed(1)} s)`);
  if (result.outcome === 'failed') failed = true;
}
console.log(`\n${renderSummary(results)}`);
process.exit(failed ? 1 : 0);
