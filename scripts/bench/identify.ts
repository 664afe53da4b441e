/**
 * Benchmark (not a test) of the identification API through the Emulator Suite:
 *   npm run bench:identify [-- --json] [--runs 20]
 * Outside the emulators it plans the stack like `npm test` and re-runs itself under
 * `firebase emulators:exec` (WILDLENS_PORT_OFFSET is honoured). Inside, it installs the
 * fixture model, then measures identifyFootprint on a ~2 MB 4000×3000 phone-sized JPEG at
 * concurrency 1 (warm) and 8, and the history page (listObservations, 20 items).
 * Targets (2-core machine): identify p50 ≤ 400 ms at c=1, 0 errors at c=8, history p50 ≤ 100 ms.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { httpsCallable } from 'firebase/functions';
import { ensureUnderEmulators, percentile } from './support.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const runsArg = args.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : 20;

await ensureUnderEmulators(import.meta.url, args, json);

// Inside `firebase emulators:exec` from here on.
const { waitForFunctions } = await import('../emulators/wait.js');
const { seedSpeciesCatalog } = await import('../seed/species.js');
const support = await import('../../tests/e2e/support.js');
const fixtures = await import('../../tests/e2e/model-fixture.js');

const log = (m: string) => {
  if (!json) console.log(m);
};

interface Measure {
  name: string;
  concurrency: number;
  calls: number;
  errors: number;
  p50: number;
  p95: number;
  target: string;
  ok: boolean;
}

async function measure(
  call: (slot: number) => Promise<unknown>,
  calls: number,
  concurrency: number,
): Promise<{ times: number[]; errors: number; firstError?: string }> {
  const times: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, slot) => {
      while (next < calls) {
        next++;
        const t = performance.now();
        try {
          await call(slot);
          times.push(performance.now() - t);
        } catch (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  return { times: times.sort((a, b) => a - b), errors, firstError };
}

await waitForFunctions(180_000);
await seedSpeciesCatalog(support.adminDb());
// The production recipe: backbone `auto` (the ensemble where MobileNetV1 can be had), one centred view.
const fixture = await fixtures.trainFixtureModel({ backboneId: 'auto', log });
await fixtures.installFixtureModel(support.adminBucket(), support.adminDb(), fixture);
log(`modèle ${fixture.version} (${fixture.source}) installé`);

// A phone-sized photo: a footprint (or noise) upscaled to 4000×3000 with grain, ~2 MB.
const [real] = await fixtures.footprintPhotos(1, 5);
const base = real ? await readFile(real.file) : await fixtures.syntheticFootprint(0, 2);
const grain = await sharp({
  create: {
    width: 4000,
    height: 3000,
    channels: 3,
    background: '#000',
    noise: { type: 'gaussian', mean: 128, sigma: 10 },
  },
})
  .png()
  .toBuffer();
let photo = await sharp(base)
  .resize(4000, 3000, { fit: 'cover' })
  .composite([{ input: grain, blend: 'overlay' }])
  .jpeg({ quality: 88 })
  .toBuffer();
for (const quality of [82, 76, 70, 64]) {
  if (photo.length <= 2.3 * 1024 * 1024) break;
  photo = await sharp(photo).jpeg({ quality }).toBuffer();
}
const photoBase64 = photo.toString('base64');
log(`photo de test : 4000×3000, ${(photo.length / 1024 / 1024).toFixed(2)} Mo`);

const user = await support.signedInClient();
const identify = httpsCallable(user.functions, 'identifyFootprint', { timeout: 120_000 });
const list = httpsCallable(user.functions, 'listObservations');
const results: Measure[] = [];

// Warm-up: the first call loads the model in the worker.
await identify({ photo: photoBase64 });
const c1 = await measure(() => identify({ photo: photoBase64 }), RUNS, 1);
results.push({
  name: 'identifyFootprint (2 Mo)',
  concurrency: 1,
  calls: RUNS,
  errors: c1.errors,
  p50: percentile(c1.times, 50),
  p95: percentile(c1.times, 95),
  target: 'p50 ≤ 400 ms',
  ok: percentile(c1.times, 50) <= 400 && c1.errors === 0,
});

// Eight hikers at once, each their own user (one user is capped at 30 identifications a
// minute by the quota). Warm the concurrent workers first: the emulator runs one request per
// worker process.
const hikers = await Promise.all(
  Array.from({ length: 8 }, async () => {
    const hiker = await support.signedInClient();
    return httpsCallable(hiker.functions, 'identifyFootprint', { timeout: 120_000 });
  }),
);
const byHiker = (slot: number) => hikers[slot]!({ photo: photoBase64 });
await measure(byHiker, 8, 8);
const c8 = await measure(byHiker, RUNS * 2, 8);
results.push({
  name: 'identifyFootprint (2 Mo)',
  concurrency: 8,
  calls: RUNS * 2,
  errors: c8.errors,
  p50: percentile(c8.times, 50),
  p95: percentile(c8.times, 95),
  target: '0 erreur',
  ok: c8.errors === 0,
});
if (c8.firstError || c1.firstError)
  console.error(`première erreur : ${c8.firstError ?? c1.firstError}`);

await list({ pageSize: 20 });
const history = await measure(() => list({ pageSize: 20 }), RUNS * 2, 1);
results.push({
  name: 'listObservations (20)',
  concurrency: 1,
  calls: RUNS * 2,
  errors: history.errors,
  p50: percentile(history.times, 50),
  p95: percentile(history.times, 95),
  target: 'p50 ≤ 100 ms',
  ok: percentile(history.times, 50) <= 100 && history.errors === 0,
});

const fmt = (ms: number) => `${Math.round(ms)} ms`;
log('');
log('| Mesure                   | c | appels | erreurs | p50     | p95     | cible        | ok  |');
log('| ------------------------ | - | ------ | ------- | ------- | ------- | ------------ | --- |');
for (const r of results) {
  log(
    `| ${r.name.padEnd(24)} | ${r.concurrency} | ${String(r.calls).padEnd(6)} | ${String(r.errors).padEnd(7)} | ${fmt(r.p50).padEnd(7)} | ${fmt(r.p95).padEnd(7)} | ${r.target.padEnd(12)} | ${r.ok ? 'oui' : 'non'} |`,
  );
}
if (json) {
  console.log(
    JSON.stringify({
      model: { version: fixture.version, source: fixture.source },
      photoBytes: photo.length,
      results: results.map((r) => ({ ...r, p50: Math.round(r.p50), p95: Math.round(r.p95) })),
    }),
  );
}
await support.closeAdmin();
process.exit(0);
