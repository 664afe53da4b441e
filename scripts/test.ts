/**
 * `npm test`: the whole quality gate, as CI runs it. Steps stop at the first failure and the
 * exit code says whether everything passed:
 *   1. secrets check, 2. lint (ESLint) and formatting (Prettier), 3. build + typecheck,
 *   4. unit and handler tests (Vitest), 5. end-to-end tests inside `firebase emulators:exec`,
 *   6. end-to-end tests of `npm start` itself (saved state round trip), each starting its stack.
 * It ends with a table per step (tests passed, failed, skipped and why) and a last line that
 * says what ran: never "all green" when a step was not run or tests were skipped. Each step
 * also prints its CPU time and the machine's load average (a duration alone says little on a
 * shared machine: compare CPU times), kept in .artifacts/test-reports/steps.json, and the unit
 * step names its files over 10 s (they are meant to stay fast; a warning, not a verdict).
 * `npm test -- unit` (or lint, typecheck, e2e, stack) runs a subset; arguments after a second
 * `--` go to Vitest, e.g. `npm test -- e2e -- tests/e2e/foundation.test.ts`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './emulators/stack.js';
import { HANG_BOUND_MS } from '../tests/hang-bound.js';
import { execUnderEmulators } from './emulators/suite.js';
import {
  readVitestReport,
  renderSummary,
  slowFiles,
  type StepResult,
  type VitestJsonReport,
} from './test-summary.js';

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

/** Unit test files are meant to take at most this long here (issue 21). */
const UNIT_FILE_SECONDS = 10;

/**
 * CPU seconds used so far by this process' children that have ended (and their own waited-for
 * children), from /proc/self/stat's cutime + cstime; undefined off Linux.
 */
function childrenCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 of proc(5), counted from the state (field 3) here; 100 ticks a second.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return undefined;
  }
}

function warnSlowUnitFiles(report: string): void {
  let json: VitestJsonReport;
  try {
    json = JSON.parse(readFileSync(report, 'utf8')) as VitestJsonReport;
  } catch {
    return;
  }
  const slow = slowFiles(json, UNIT_FILE_SECONDS, REPO_ROOT);
  if (!slow.length) return;
  console.log(
    `\n⚠ Fichiers unitaires de plus de ${UNIT_FILE_SECONDS} s (charge ${os.loadavg()[0]!.toFixed(1)}) :`,
  );
  for (const f of slow) console.log(`  ${f.seconds.toFixed(1).padStart(6)} s  ${f.file}`);
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
      warnSlowUnitFiles(report);
      return { outcome: ok ? 'ok' : 'failed', tests: readVitestReport(report) };
    }
    case 'e2e': {
      const code = await execUnderEmulators(
        [bin('vitest'), ...vitestArgs('e2e', report, extraVitestArgs)].join(' '),
        {
          env: {
            // Each test file sets the active model it needs: no 30 s pointer cache in between.
            WILDLENS_MODEL_RECHECK_SECONDS: '0',
            // The Functions emulator drops an event whose worker is not up within this (180 s
            // otherwise): in the tests it only bounds a hang (tests/hang-bound.ts).
            FUNCTIONS_DISCOVERY_TIMEOUT: String(HANG_BOUND_MS / 1000),
          },
        },
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
const timings: { step: Step; seconds: number; cpuSeconds?: number; load: number[] }[] = [];
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
  const cpuBefore = childrenCpuSeconds();
  const loadBefore = os.loadavg()[0]!;
  const result = await runStep(step);
  const seconds = (Date.now() - started) / 1000;
  const cpuAfter = childrenCpuSeconds();
  const cpuSeconds =
    cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
  const load = [loadBefore, os.loadavg()[0]!];
  timings.push({ step, seconds, cpuSeconds, load });
  writeFileSync(path.join(REPORTS_DIR, 'steps.json'), `${JSON.stringify(timings, null, 2)}\n`);
  results.push({ title, seconds, ...result });
  const cpu = cpuSeconds === undefined ? '' : `, CPU ${cpuSeconds.toFixed(0)} s`;
  console.log(
    `${result.outcome === 'ok' ? '✔' : '✖'} ${title} (${seconds.toFixed(1)} s${cpu}, charge ${load.map((l) => l.toFixed(1)).join(' → ')})`,
  );
  if (result.outcome === 'failed') failed = true;
}
console.log(`\n${renderSummary(results)}`);
process.exit(failed ? 1 : 0);
