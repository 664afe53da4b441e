import { describe, expect, it } from 'vitest';
import {
  NO_DECLARED_REASON,
  countsFromReport,
  finalLine,
  renderSummary,
  slowFiles,
  type StepResult,
  type TestCounts,
  type VitestJsonReport,
} from './test-summary.js';

const test = (status: string, tags: string[] = []) => ({ status, fullName: `t ${status}`, tags });

const REPORT: VitestJsonReport = {
  testResults: [
    {
      name: 'admin-pages.test.ts',
      status: 'passed',
      assertionResults: [
        test('skipped', ['needs-chromium']),
        test('skipped', ['needs-chromium']),
        test('passed'),
      ],
    },
    {
      name: 'identify.test.ts',
      status: 'passed',
      assertionResults: [test('passed'), test('skipped', ['needs-shared']), test('skipped')],
    },
    { name: 'broken.test.ts', status: 'failed', message: 'import failed', assertionResults: [] },
  ],
};

const counts = (passed: number, skipped = 0): TestCounts => ({
  passed,
  failed: 0,
  skipped,
  failedFiles: 0,
  skipReasons: new Map(skipped ? [['Chromium absent', skipped]] : []),
});

describe('countsFromReport', () => {
  it('counts each status and gives each skipped test the reason of its requirement tag', () => {
    const c = countsFromReport(REPORT);
    expect(c).toMatchObject({ passed: 2, failed: 0, skipped: 4, failedFiles: 1 });
    expect([...c.skipReasons]).toEqual([
      ['Chromium absent (paquet Debian chromium, ou WILDLENS_CHROMIUM)', 2],
      ['../shared absent (photos réelles de traces, jeux de données)', 1],
      [NO_DECLARED_REASON, 1],
    ]);
  });
});

describe('slowFiles', () => {
  it('names the files over the limit, slowest first, relative to the root', () => {
    const file = (name: string, seconds: number) => ({
      name,
      status: 'passed',
      startTime: 1_000,
      endTime: 1_000 + seconds * 1000,
      assertionResults: [],
    });
    const report: VitestJsonReport = {
      testResults: [
        file('/repo/a.test.ts', 4),
        file('/repo/pkg/b.test.ts', 12.5),
        file('/repo/c.test.ts', 31),
        file('/repo/d.test.ts', 10),
      ],
    };
    expect(slowFiles(report, 10, '/repo')).toEqual([
      { file: 'c.test.ts', seconds: 31 },
      { file: 'pkg/b.test.ts', seconds: 12.5 },
    ]);
    expect(slowFiles(report, 60, '/repo')).toEqual([]);
  });
});

describe('finalLine', () => {
  const ok = (title: string, tests?: TestCounts): StepResult => ({ title, outcome: 'ok', tests });

  it('says all green only when every step ran and nothing was skipped', () => {
    expect(finalLine([ok('lint'), ok('unit', counts(10)), ok('e2e', counts(5))])).toBe(
      '✔ Tout est vert : toutes les étapes, 15 tests passés, aucun ignoré.',
    );
  });

  it('says how many tests were skipped when every step ran', () => {
    const line = finalLine([ok('unit', counts(10)), ok('e2e', counts(5, 7))]);
    expect(line).toBe(
      '✔ Vert pour toutes les étapes : 15 tests passés ; mais 7 tests ignorés (raisons ci-dessus).',
    );
  });

  it('says which steps ran and which were not asked for', () => {
    const line = finalLine([ok('unit', counts(10, 2)), { title: 'e2e', outcome: 'not-selected' }]);
    expect(line).toBe(
      '✔ Vert pour ce qui a tourné (unit) : 10 tests passés ; mais 2 tests ignorés (raisons ci-dessus) ; non lancées : e2e.',
    );
  });

  it('names the failed step', () => {
    expect(
      finalLine([
        { title: 'unit', outcome: 'failed' },
        { title: 'e2e', outcome: 'not-run' },
      ]),
    ).toBe('✖ Échec : unit.');
  });
});

describe('renderSummary', () => {
  it('has one row per step with its counts and skip reasons', () => {
    const text = renderSummary([
      { title: 'Lint', outcome: 'ok', seconds: 12 },
      { title: 'Tests e2e', outcome: 'ok', seconds: 480, tests: counts(100, 7) },
    ]);
    const rows = text.split('\n');
    expect(rows[0]).toMatch(/^Étape\s+Résultat\s+Passés\s+Échecs\s+Ignorés\s+Durée\s+Pourquoi/);
    expect(rows[2]).toMatch(/^Lint\s+✔ réussie\s+12 s$/);
    expect(rows[3]).toMatch(/^Tests e2e\s+✔ réussie\s+100\s+0\s+7\s+480 s\s+7 : Chromium absent$/);
  });
});
