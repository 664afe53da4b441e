/**
 * `npm run bench:offline -- --model DIR [--photos 100] [--quantization float16]
 *   [--compare float32,uint8] [--backend wasm|webgl] [--json]`
 *
 * Measures the offline bundle of a model (issue 22 targets) and prints numbers, then one JSON
 * line:
 * - size: the bundle's bytes per part (≤ 25 MB);
 * - agreement: the same photos (half crops from footprints-dev, half field photos from
 *   footprints-field-dev, spread evenly) identified by the server's code (FootprintModel, here
 *   in Node) and by the runtime in headless Chromium: top-1 agreement (≥ 95 %) and mean
 *   absolute difference of the top probability (≤ 0.02), overall and per domain;
 * - speed in Chromium: first load of the bundle from Cache Storage (≤ 10 s) and identification
 *   per photo after it (≤ 1.5 s): decode, pipeline, backbones, heads; also on `--phone N`
 *   phone-sized photos (field photos enlarged to 4032 × 3024 JPEG, which sharp shrinks on load);
 * - quantisation cost: each variant (`--quantization` and `--compare`) run by the same runtime
 *   in Node (same pixels as Chromium's decoder), accuracy against the labels per domain next to
 *   the server's (full weights), on the same photos, and with `--eval-model DIR` (a model
 *   trained with `--holdout`) on that model's held-out photos.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import {
  buildOfflineBundle,
  dirReader,
  initBackend,
  loadFootprintModelFromDir,
  type OfflineBundle,
  type WeightQuantization,
} from '@wildlens/model';
import { loadSpeciesCatalog, speciesSheetOf } from '@wildlens/shared';
import { loadOfflineBundle } from '@wildlens/offline-runtime';
// What the browser's decoder gives, as the runtime's tests take it.
import { browserDecode } from '../../packages/offline-runtime/src/test-helpers.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHARED = path.join(
  process.env.WILDLENS_SHARED_DIR ?? path.resolve(REPO_ROOT, '..', 'shared'),
  'datasets',
);
const DATASETS = [
  { dir: path.join(SHARED, 'footprints-dev'), domain: 'crop' },
  { dir: path.join(SHARED, 'footprints-field-dev'), domain: 'field' },
];
const CHROMIUM = process.env.WILDLENS_CHROMIUM ?? '/usr/bin/chromium';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    photos: { type: 'string', default: '100' },
    quantization: { type: 'string', default: 'float16' },
    compare: { type: 'string', default: 'float32,uint8' },
    backend: { type: 'string' },
    'eval-model': { type: 'string' },
    phone: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
if (!args.model) throw new Error('--model DIR est obligatoire (un modèle de `npm run train`)');
const modelDir = path.resolve(args.model);
const log = (line: string): void => {
  if (!args.json) console.log(line);
};

interface Photo {
  id: string;
  domain: string;
  label: string;
  bytes: Buffer;
}

/** `count` photos spread evenly over each dataset, or the photos whose ids `only` lists. */
async function photos(count: number, only?: Set<string>): Promise<Photo[]> {
  const out: Photo[] = [];
  for (const { dir, domain } of DATASETS) {
    const { images } = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
      images: { label: string; file: string }[];
    };
    const sorted = [...images]
      .filter((i) => !only || only.has(`${domain}/${i.file}`))
      .sort((a, b) => a.file.localeCompare(b.file));
    const take = only ? sorted.length : Math.round(count / DATASETS.length);
    const step = only ? 1 : Math.floor(sorted.length / take);
    for (let i = 0; i < take; i++) {
      const image = sorted[i * step] as { label: string; file: string };
      out.push({
        id: `${domain}:${image.file}`,
        domain,
        label: speciesLabel(image.label),
        bytes: await readFile(path.join(dir, image.file)),
      });
    }
  }
  return out;
}

function speciesLabel(folder: string): string {
  return folder
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[_\s]+/g, '-');
}

const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};
const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 100) / 100;

function sizes(bundle: OfflineBundle): Record<string, number> {
  const parts: Record<string, number> = {};
  for (const f of bundle.manifest.files) {
    const part = f.path.startsWith('backbone/')
      ? `backbone ${bundle.manifest.backbone.parts[Number(f.path.split('/')[1])]?.id}`
      : f.path;
    parts[part] = (parts[part] ?? 0) + f.size;
  }
  return parts;
}

interface Answer {
  probabilities: Record<string, number>;
}
const top1 = (a: Answer): [string, number] =>
  Object.entries(a.probabilities).sort((x, y) => y[1] - x[1])[0] as [string, number];

function accuracy(set: Photo[], answers: Answer[], domain?: string) {
  const rows = set
    .map((p, i) => ({ p, a: answers[i] as Answer }))
    .filter((r) => !domain || r.p.domain === domain);
  const ranked = rows.map((r) =>
    Object.entries(r.a.probabilities)
      .sort((x, y) => y[1] - x[1])
      .map(([s]) => s),
  );
  return {
    n: rows.length,
    top1: rows.filter((r, i) => ranked[i]![0] === r.p.label).length / rows.length,
    top3: rows.filter((r, i) => ranked[i]!.slice(0, 3).includes(r.p.label)).length / rows.length,
  };
}

function agreement(set: Photo[], server: Answer[], offline: Answer[], domain?: string) {
  const idx = set.map((p, i) => i).filter((i) => !domain || set[i]!.domain === domain);
  const agree = idx.filter((i) => top1(server[i]!)[0] === top1(offline[i]!)[0]).length;
  const diffs = idx.map((i) => Math.abs(top1(server[i]!)[1] - top1(offline[i]!)[1]));
  return {
    n: idx.length,
    top1Agreement: agree / idx.length,
    meanAbsTopProbabilityDiff: diffs.reduce((a, b) => a + b, 0) / idx.length,
    maxAbsTopProbabilityDiff: Math.max(...diffs),
  };
}

async function serve(
  routes: Map<string, { body: Uint8Array | string; type: string }>,
): Promise<Server> {
  const server = createServer((req, res) => {
    const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': route.type, 'cache-control': 'no-store' }).end(route.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

await initBackend();
const set = await photos(Number(args.photos));
const phoneSet: Photo[] = await Promise.all(
  set
    .filter((p) => p.domain === 'field')
    .slice(0, Number(args.phone))
    .map(async (p) => ({
      ...p,
      id: `phone:${p.id}`,
      bytes: await sharp(p.bytes)
        .resize(4032, 3024, { fit: 'fill' })
        .jpeg({ quality: 90 })
        .toBuffer(),
    })),
);
const species = loadSpeciesCatalog().species.map(speciesSheetOf);
const mainQuantization = args.quantization as WeightQuantization;
const compare = (args.compare ?? '')
  .split(',')
  .filter(Boolean)
  .filter((q) => q !== mainQuantization) as WeightQuantization[];

const manifest = JSON.parse(await readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as {
  version: string;
  backbone: { id: string };
};
const version = manifest.version;
log(`Modèle ${version} (${manifest.backbone.id}), ${set.length} photos`);
const { answers: serverAnswers, ms: serverMs } = await serverAnswersOf(modelDir, set);
const { answers: phoneServerAnswers } = await serverAnswersOf(modelDir, phoneSet);

const bundles = new Map<WeightQuantization, OfflineBundle>();
for (const q of [mainQuantization, ...compare])
  bundles.set(
    q,
    await buildOfflineBundle({ model: dirReader(modelDir), version, species, quantization: q }),
  );
const main = bundles.get(mainQuantization) as OfflineBundle;
const sizeReport = Object.fromEntries(
  [...bundles].map(([q, b]) => [
    q,
    {
      totalMB: mb(b.manifest.totalSize),
      parts: Object.fromEntries(Object.entries(sizes(b)).map(([k, v]) => [k, mb(v)])),
    },
  ]),
);
for (const [q, s] of Object.entries(sizeReport))
  log(`Taille (${q}) : ${s.totalMB} Mo — ${JSON.stringify(s.parts)}`);

// Browser: the harness page, the bundle's files, the photos, tfjs's wasm binaries.
const harness = await build({
  entryPoints: [path.join(REPO_ROOT, 'scripts', 'bench', 'offline-harness.ts')],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'browser',
  minify: true,
  logLevel: 'error',
});
const routes = new Map<string, { body: Uint8Array | string; type: string }>([
  [
    '/',
    {
      body: '<!doctype html><meta charset="utf-8"><script type="module" src="/harness.js"></script>',
      type: 'text/html',
    },
  ],
  ['/harness.js', { body: harness.outputFiles[0]!.contents, type: 'text/javascript' }],
]);
for (const [file, bytes] of main.files)
  routes.set(`/bundle/${file}`, { body: bytes, type: 'application/octet-stream' });
set.forEach((p, i) => routes.set(`/photo/${i}`, { body: p.bytes, type: 'image/jpeg' }));
phoneSet.forEach((p, i) => routes.set(`/phone/${i}`, { body: p.bytes, type: 'image/jpeg' }));
const wasmDir = path.dirname(
  fileURLToPath(import.meta.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')),
);
for (const name of [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
])
  routes.set(`/tfjs-wasm/${name}`, {
    body: await readFile(path.join(wasmDir, name)),
    type: 'application/wasm',
  });
const http = await serve(routes);
const origin = `http://127.0.0.1:${(http.address() as { port: number }).port}`;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run'],
});
type Bench = {
  install(url: string): Promise<void>;
  load(prefer?: string): Promise<{ ms: number; backend: string; detail: string }>;
  identify(
    url: string,
  ): Promise<{ ms: number; timings: { preprocess: number; inference: number } } & Answer>;
};
let browserReport: Record<string, unknown>;
const offlineAnswers: Answer[] = [];
const phoneOfflineAnswers: Answer[] = [];
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(origin);
  await page.waitForFunction(() => 'bench' in window);
  await page.evaluate(
    (u) => (window as unknown as { bench: Bench }).bench.install(u),
    `${origin}/bundle/bundle.json`,
  );
  // A fresh page: the bundle now comes from Cache Storage only.
  await page.reload();
  await page.waitForFunction(() => 'bench' in window);
  const loaded = await page.evaluate(
    (prefer) => (window as unknown as { bench: Bench }).bench.load(prefer),
    args.backend,
  );
  log(
    `Premier chargement depuis le cache : ${(loaded.ms / 1000).toFixed(2)} s (${loaded.backend}, ${loaded.detail}) — cible ≤ 10 s`,
  );
  const ms: number[] = [];
  const preprocess: number[] = [];
  const inference: number[] = [];
  for (const [i] of set.entries()) {
    const answer = await page.evaluate(
      (u) => (window as unknown as { bench: Bench }).bench.identify(u),
      `${origin}/photo/${i}`,
    );
    offlineAnswers.push(answer);
    ms.push(answer.ms);
    preprocess.push(answer.timings.preprocess);
    inference.push(answer.timings.inference);
  }
  const phoneMs: number[] = [];
  for (const [i] of phoneSet.entries()) {
    const answer = await page.evaluate(
      (u) => (window as unknown as { bench: Bench }).bench.identify(u),
      `${origin}/phone/${i}`,
    );
    phoneOfflineAnswers.push(answer);
    phoneMs.push(answer.ms);
  }
  browserReport = {
    phoneIdentifyMs: phoneMs.length
      ? { p50: Math.round(quantile(phoneMs, 0.5)), max: Math.round(Math.max(...phoneMs)) }
      : null,
    backend: loaded.backend,
    backendDetail: loaded.detail,
    firstLoadFromCacheMs: Math.round(loaded.ms),
    identifyMs: {
      first: Math.round(ms[0]!),
      p50: Math.round(quantile(ms, 0.5)),
      p95: Math.round(quantile(ms, 0.95)),
      max: Math.round(Math.max(...ms)),
      // Inside identify: the image pipeline (decode excluded), then backbones + pooling + heads.
      preprocessP50: Math.round(quantile(preprocess, 0.5)),
      inferenceP50: Math.round(quantile(inference, 0.5)),
    },
  };
  log(
    `Identification dans le navigateur : p50 ${Math.round(quantile(ms, 0.5))} ms, p95 ${Math.round(quantile(ms, 0.95))} ms, max ${Math.round(Math.max(...ms))} ms — cible ≤ 1 500 ms`,
  );
} finally {
  await browser.close();
  http.close();
}

const domains = [...new Set(set.map((p) => p.domain))];
if (phoneSet.length)
  log(
    `Photos de téléphone (4032 × 3024) : ${JSON.stringify(agreement(phoneSet, phoneServerAnswers, phoneOfflineAnswers))}, identification ${JSON.stringify(browserReport.phoneIdentifyMs)} ms`,
  );
const agreementReport = {
  all: agreement(set, serverAnswers, offlineAnswers),
  byDomain: Object.fromEntries(
    domains.map((d) => [d, agreement(set, serverAnswers, offlineAnswers, d)]),
  ),
};
log(`Accord avec le serveur (${mainQuantization}) : ${JSON.stringify(agreementReport)}`);

// Quantisation cost: each variant in Node (same pixels as Chromium's decoder).
async function quantizationCost(
  dir: string,
  set: Photo[],
  server: Answer[],
  extra: Record<string, Answer[]> = {},
): Promise<Record<string, unknown>> {
  const domains = [...new Set(set.map((p) => p.domain))];
  const figures = (answers: Answer[]) => ({
    all: accuracy(set, answers),
    byDomain: Object.fromEntries(domains.map((d) => [d, accuracy(set, answers, d)])),
  });
  const report: Record<string, unknown> = { photos: set.length, server: figures(server) };
  for (const [name, answers] of Object.entries(extra)) report[name] = figures(answers);
  const version = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')).version;
  for (const q of [mainQuantization, ...compare]) {
    const bundle = await buildOfflineBundle({
      model: dirReader(dir),
      version,
      species,
      quantization: q,
    });
    const model = await loadOfflineBundle(bundle.manifest, {
      readFile: async (p) => bundle.files.get(p)!,
    });
    const answers: Answer[] = [];
    for (const photo of set) answers.push(model.identify(await browserDecode(photo.bytes)));
    model.dispose();
    report[`${q} (Node)`] = { ...figures(answers), agreement: agreement(set, server, answers) };
  }
  return report;
}

async function serverAnswersOf(
  dir: string,
  set: Photo[],
): Promise<{ answers: Answer[]; ms: number[] }> {
  const model = await loadFootprintModelFromDir(dir);
  const answers: Answer[] = [];
  const ms: number[] = [];
  for (const photo of set) {
    const start = performance.now();
    answers.push(await model.predict(photo.bytes));
    ms.push(performance.now() - start);
  }
  model.dispose();
  return { answers, ms };
}

const evalReport = await quantizationCost(modelDir, set, serverAnswers, {
  [`${mainQuantization} (Chromium)`]: offlineAnswers,
});
log(
  `Coût de la quantification (exactitude sur les étiquettes, ${set.length} photos) : ${JSON.stringify(evalReport)}`,
);
let holdoutReport: Record<string, unknown> | undefined;
if (args['eval-model']) {
  const evalDir = path.resolve(args['eval-model']);
  const ids = JSON.parse(await readFile(path.join(evalDir, 'manifest.json'), 'utf8')).holdout
    ?.ids as string[] | undefined;
  if (!ids?.length) throw new Error(`${evalDir} n’a pas de photos réservées (train --holdout)`);
  const heldOut = await photos(0, new Set(ids));
  holdoutReport = await quantizationCost(
    evalDir,
    heldOut,
    (await serverAnswersOf(evalDir, heldOut)).answers,
  );
  log(
    `Coût de la quantification sur les ${heldOut.length} photos réservées : ${JSON.stringify(holdoutReport)}`,
  );
}

console.log(
  JSON.stringify({
    model: version,
    backbone: main.manifest.backbone.id,
    photos: set.length,
    quantization: mainQuantization,
    size: sizeReport,
    agreement: agreementReport,
    phoneAgreement: phoneSet.length
      ? agreement(phoneSet, phoneServerAnswers, phoneOfflineAnswers)
      : null,
    browser: browserReport,
    serverMs: {
      p50: Math.round(quantile(serverMs, 0.5)),
      p95: Math.round(quantile(serverMs, 0.95)),
    },
    quantizationCost: evalReport,
    ...(holdoutReport ? { quantizationCostHeldOut: holdoutReport } : {}),
  }),
);
