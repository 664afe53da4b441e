import { parseArgs } from 'node:util';

/** --backbone help shared by train, cv and bench. */
export const BACKBONE_USAGE = `  --backbone: auto (default), a backbone id, or a tfjs model by URL:
    'https://…/model.json#inputSize=384&normalisation=unit&license=Apache-2.0[&featureOutput=NODE]'
    (normalisation unit|mobilenet|imagenet; or the same fields as JSON, see packages/model/README.md)`;

export type Flags = Record<string, string | boolean | undefined>;

/** Parses --key value / --flag options; exits with the usage text on unknown options. */
export function parseCli(
  usage: string,
  options: Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>,
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
