/**
 * `npm test`: the whole quality gate, as CI runs it. Steps stop at the first failure and the
 * exit code says whether everything passed:
 *   1. secrets check, 2. lint (ESLint) and formatting (Prettier), 3. build + typecheck,
 *   4. unit and handler tests (Vitest), 5. end-to-end tests inside `firebase emulators:exec`.
 * `npm test -- unit` (or lint, typecheck, e2e) runs a subset; arguments after a second `--`
 * go to Vitest, e.g. `npm test -- e2e -- tests/e2e/foundation.test.ts`.
 */
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from './emulators/stack.js';
import { execUnderEmulators } from './emulators/suite.js';

const bin = (name: string): string => `${REPO_ROOT}/node_modules/.bin/${name}`;

function run(title: string, cmd: string, args: string[], env: Record<string, string> = {}): void {
  console.log(`\n▶ ${title}\n  $ ${[cmd, ...args].join(' ')}`);
  const started = Date.now();
  const res = spawnSync(cmd, args, {
    cwd: REPO_ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (res.status !== 0) {
    console.error(`\n✖ ${title} : échec (code ${res.status ?? res.signal}) après ${seconds} s`);
    process.exit(res.status ?? 1);
  }
  console.log(`✔ ${title} (${seconds} s)`);
}

const STEPS = ['secrets', 'lint', 'typecheck', 'unit', 'e2e'] as const;
const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const wanted = split === -1 ? argv : argv.slice(0, split);
const vitestArgs = split === -1 ? [] : argv.slice(split + 1);
const selected = wanted.length ? STEPS.filter((s) => wanted.includes(s)) : [...STEPS];

for (const step of selected) {
  switch (step) {
    case 'secrets':
      run('Aucun secret versionné', bin('tsx'), ['scripts/check-secrets.ts']);
      break;
    case 'lint':
      run('ESLint', bin('eslint'), ['--max-warnings=0', '.']);
      run('Prettier', bin('prettier'), ['--check', '.']);
      break;
    case 'typecheck':
      run('Build (tsc -b)', bin('tsc'), ['-b']);
      run('Typecheck des tests et scripts', bin('tsc'), ['-p', 'tsconfig.tools.json']);
      break;
    case 'unit':
      run('Tests unitaires et de handlers', bin('vitest'), [
        'run',
        '--project',
        'unit',
        ...vitestArgs,
      ]);
      break;
    case 'e2e': {
      const title = 'Tests de bout en bout (Emulator Suite)';
      console.log(`\n▶ ${title}`);
      const started = Date.now();
      const code = await execUnderEmulators(
        [bin('vitest'), 'run', '--project', 'e2e', ...vitestArgs].join(' '),
        // Each test file sets the active model it needs: no 30 s pointer cache in between.
        { env: { WILDLENS_MODEL_RECHECK_SECONDS: '0' } },
      );
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (code !== 0) {
        console.error(`\n✖ ${title} : échec (code ${code}) après ${seconds} s`);
        process.exit(code);
      }
      console.log(`✔ ${title} (${seconds} s)`);
      break;
    }
  }
}
console.log('\nTout est vert.');
