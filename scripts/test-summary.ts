/**
 * The end of `npm test`: one row per step (passed, failed, skipped tests and why they were
 * skipped) and a last line that says what really ran. Test counts come from Vitest's JSON
 * reporter; skip reasons from the requirement tags of the skipped tests (tests/requirements.ts).
 */
import { readFileSync } from 'node:fs';
import { TEST_REQUIREMENTS } from '../tests/requirements.js';

/** The part of Vitest's JSON report read here. */
export interface VitestJsonReport {
  testResults: {
    name: string;
    status: string;
    message?: string;
    /** Epoch milliseconds: the file's run, collection and hooks included. */
    startTime?: number;
    endTime?: number;
    assertionResults: { status: string; fullName: string; tags?: string[] }[];
  }[];
}

export interface TestCounts {
  passed: number;
  failed: number;
  skipped: number;
  /** Test files that failed outside any test (import error, failing hook). */
  failedFiles: number;
  /** Skip reason → number of tests skipped for it. */
  skipReasons: Map<string, number>;
}

export const NO_DECLARED_REASON = 'sans raison déclarée (tag needs-… manquant)';

export function countsFromReport(report: VitestJsonReport): TestCounts {
  const reasons = new Map<string, string>(TEST_REQUIREMENTS.map((r) => [r.name, r.description]));
  const counts: TestCounts = {
    passed: 0,
    failed: 0,
    skipped: 0,
    failedFiles: 0,
    skipReasons: new Map(),
  };
  for (const file of report.testResults) {
    const tests = file.assertionResults;
    if (file.status === 'failed' && !tests.some((t) => t.status === 'failed')) counts.failedFiles++;
    for (const test of tests) {
      if (test.status === 'passed') counts.passed++;
      else if (test.status === 'failed') counts.failed++;
      else if (test.status === 'skipped' || test.status === 'pending' || test.status === 'todo') {
        counts.skipped++;
        const reason =
          (test.tags ?? []).map((t) => reasons.get(t)).find(Boolean) ?? NO_DECLARED_REASON;
        counts.skipReasons.set(reason, (counts.skipReasons.get(reason) ?? 0) + 1);
      }
    }
  }
  return counts;
}

export function readVitestReport(file: string): TestCounts | undefined {
  try {
    return countsFromReport(JSON.parse(readFileSync(file, 'utf8')) as VitestJsonReport);
  } catch {
    return undefined;
  }
}

/**
 * Test files that took longer than `limitSeconds` (slowest first), paths relative to `root`.
 * Unit files are meant to stay fast by design (≤ 10 s here): `npm test` names the ones that are
 * not, as a warning (a duration is no test verdict: it depends on the machine's load).
 */
export function slowFiles(
  report: VitestJsonReport,
  limitSeconds: number,
  root: string,
): { file: string; seconds: number }[] {
  return report.testResults
    .map((f) => ({
      file: f.name.startsWith(root) ? f.name.slice(root.length).replace(/^\//, '') : f.name,
      seconds: ((f.endTime ?? 0) - (f.startTime ?? 0)) / 1000,
    }))
    .filter((f) => f.seconds > limitSeconds)
    .sort((a, b) => b.seconds - a.seconds);
}

export interface StepResult {
  title: string;
  /** ok / failed; not-run: a step after a failure; not-selected: not asked for. */
  outcome: 'ok' | 'failed' | 'not-run' | 'not-selected';
  seconds?: number;
  /** Vitest steps only (undefined when the report could not be read). */
  tests?: TestCounts;
}

const OUTCOME_LABEL: Record<StepResult['outcome'], string> = {
  ok: '✔ réussie',
  failed: '✖ ÉCHEC',
  'not-run': '– non lancée (échec avant)',
  'not-selected': '– non demandée',
};

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - [...text].length));
}

/** The summary table and the last line. */
export function renderSummary(steps: StepResult[]): string {
  const rows = steps.map((s) => {
    const t = s.tests;
    const reasons = t
      ? [...t.skipReasons].map(([reason, n]) => `${n} : ${reason}`).join(' ; ')
      : '';
    return [
      s.title,
      OUTCOME_LABEL[s.outcome],
      t ? String(t.passed) : '',
      t ? String(t.failed + t.failedFiles) : '',
      t ? String(t.skipped) : '',
      s.seconds === undefined ? '' : `${s.seconds.toFixed(0)} s`,
      reasons,
    ];
  });
  const header = ['Étape', 'Résultat', 'Passés', 'Échecs', 'Ignorés', 'Durée', 'Pourquoi ignorés'];
  const widths = header.map((h, i) =>
    Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => pad(c, i === cells.length - 1 ? 0 : (widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const table = [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)];
  return `${table.join('\n')}\n\n${finalLine(steps)}`;
}

/** Never "all green" unless every step ran and no test was skipped. */
export function finalLine(steps: StepResult[]): string {
  const ran = steps.filter((s) => s.outcome === 'ok' || s.outcome === 'failed');
  const total = (key: 'passed' | 'skipped') =>
    ran.reduce((n, s) => n + (s.tests ? s.tests[key] : 0), 0);
  const passed = total('passed');
  const skipped = total('skipped');
  const failed = steps.filter((s) => s.outcome === 'failed').map((s) => s.title);
  if (failed.length) return `✖ Échec : ${failed.join(', ')}.`;
  const notSelected = steps.filter((s) => s.outcome === 'not-selected').map((s) => s.title);
  const tests = `${passed} tests passés`;
  if (!skipped && !notSelected.length)
    return `✔ Tout est vert : toutes les étapes, ${tests}, aucun ignoré.`;
  const caveats = [
    skipped ? `${skipped} tests ignorés (raisons ci-dessus)` : '',
    notSelected.length ? `non lancées : ${notSelected.join(', ')}` : '',
  ].filter(Boolean);
  const what = notSelected.length
    ? `pour ce qui a tourné (${ran.map((s) => s.title).join(', ')})`
    : 'pour toutes les étapes';
  return `✔ Vert ${what} : ${tests} ; mais ${caveats.join(' ; ')}.`;
}
