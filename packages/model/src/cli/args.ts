import path from 'node:path';
import { parseArgs } from 'node:util';
import type { DialogueEvaluation } from '../dialogue-evaluation.js';
import { verdictFigures, type VerdictFigures } from '../evaluation.js';

/** --backbone help shared by train, cv and bench. */
export const BACKBONE_USAGE = `  --backbone: auto (default), a backbone id, or a tfjs model by URL:
    'https://…/model.json#inputSize=384&normalisation=unit&license=Apache-2.0[&featureOutput=NODE]'
    (normalisation unit|mobilenet|imagenet; or the same fields as JSON, see packages/model/README.md)`;

export type Flags = Record<string, string | boolean | string[] | undefined>;

/** Parses --key value / --flag options; exits with the usage text on unknown options. */
export function parseCli(
  usage: string,
  options: Record<
    string,
    { type: 'string' | 'boolean'; default?: string | boolean; multiple?: boolean }
  >,
): Flags {
  try {
    const { values } = parseArgs({
      options: { ...options, help: { type: 'boolean' } },
      allowPositionals: false,
    });
    if (values.help) {
      console.log(usage);
      process.exit(0);
    }
    return values as Flags;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
}

/** `--dataset` help shared by train, cv, eval and bench. */
export const DATASET_USAGE = `  --dataset DIR: a labelled folder (species sub-folders, optional manifest.json); repeat it, or
    give several directories separated by commas, to use several datasets as one set. Each image
    keeps its dataset's domain (crop for footprints-dev, field for footprints-field-dev, else the
    manifest's "domain" or the folder name), and every figure is also reported per domain.`;

/** The --dataset option, repeatable. */
export const DATASET_OPTION = { dataset: { type: 'string', multiple: true } } as const;

/** Every directory given with --dataset (repeated, or comma-separated), resolved; exits when none. */
export function datasetDirs(flags: Flags, usage: string): string[] {
  const given = flags.dataset;
  const dirs = (Array.isArray(given) ? given : typeof given === 'string' ? [given] : [])
    .flatMap((d) => d.split(','))
    .filter(Boolean)
    .map((d) => path.resolve(d));
  if (!dirs.length) {
    console.error(`--dataset is required\n\n${usage}`);
    process.exit(2);
  }
  return dirs;
}

export function requireString(flags: Flags, name: string, usage: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || !v) {
    console.error(`--${name} is required\n\n${usage}`);
    process.exit(2);
  }
  return v;
}

export function pct(v: number): string {
  return `${(v * 100).toFixed(1)} %`;
}

export function printConfusion(labels: string[], confusion: number[][]): void {
  const short = labels.map((l) => l.slice(0, 5).padStart(5));
  console.log(`${''.padStart(13)} ${short.join(' ')}`);
  confusion.forEach((row, i) =>
    console.log(
      `${(labels[i] ?? '').padEnd(13)} ${row.map((v) => String(v).padStart(5)).join(' ')}`,
    ),
  );
}

type DomainFigures = VerdictFigures;

/** One line per domain (and the whole set): the figures `--json` also gives under byDomain. */
export function printDomainTable(
  report: DomainFigures & { byDomain: Record<string, DomainFigures> },
): void {
  const rows: [string, DomainFigures][] = [['all', report], ...Object.entries(report.byDomain)];
  console.log(
    `${'domain'.padEnd(12)} ${'n'.padStart(5)} ${'top-1'.padStart(7)} ${'top-3'.padStart(7)} ${'macroF1'.padStart(7)} ${'ECE'.padStart(6)} ${'identified'.padStart(10)} ${'precision'.padStart(9)} ${'rejected'.padStart(8)}`,
  );
  for (const [name, r] of rows)
    console.log(
      `${name.padEnd(12)} ${String(r.n).padStart(5)} ${pct(r.top1).padStart(7)} ${pct(r.top3).padStart(7)} ${pct(r.macroF1).padStart(7)} ${r.ece.toFixed(3).padStart(6)} ${pct(r.identifiedCoverage).padStart(10)} ${pct(r.identifiedPrecision).padStart(9)} ${pct(r.falseRejectRate).padStart(8)}`,
    );
}

/** The figures of the JSON line (per domain too), without the confusion matrix. */
export function jsonFigures(r: DomainFigures & { perSpeciesRecall?: Record<string, number> }) {
  return {
    ...verdictFigures(r),
    ...(r.perSpeciesRecall ? { perSpeciesRecall: r.perSpeciesRecall } : {}),
  };
}

/** The dialogue's figures: per noise profile, domain and situation, after 0 … 3 answers. */
export function printDialogueTables(dialogue: Pick<DialogueEvaluation, 'figures'>): void {
  for (const [profile, byDomain] of Object.entries(dialogue.figures)) {
    console.log(
      `\ndialogue, ${profile} hiker (top-1 / top-3 / identified coverage @ precision / set coverage, mean size):`,
    );
    for (const [domain, byScenario] of Object.entries(byDomain))
      for (const [scenario, steps] of Object.entries(byScenario)) {
        const cells = (steps ?? []).map(
          (f, k) =>
            `${k}: ${pct(f.top1)} / ${pct(f.top3)} / ${pct(f.identifiedCoverage)} @ ${pct(f.identifiedPrecision)} / ${pct(f.setCoverage)}, ${f.meanSetSize.toFixed(1)}`,
        );
        console.log(
          `  ${domain.padEnd(6)} ${scenario.padEnd(13)} n=${String(steps?.[0]?.n ?? 0).padStart(4)}  ${cells.join(' | ')}`,
        );
      }
  }
}
