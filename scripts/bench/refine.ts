/**
 * Benchmark (not a test) of the dialogue's refinement (issue 19) through the Emulator Suite:
 *   npm run bench:refine [-- --json] [--runs 40]
 * Outside the emulators it re-runs itself under `firebase emulators:exec` (WILDLENS_PORT_OFFSET
 * is honoured). Inside, it installs the fixture model (production recipe, backbone `auto`),
 * identifies a photo, then measures refineObservation:
 * - without a region, in this process: the recomputation alone (assessObservation and the
 *   response, what the handler computes) and the whole handler against the emulators'
 *   Firestore (its transaction included), with an engine that throws if asked for the model:
 *   no model pass; target ≤ 20 ms;
 * - with a region, in this process, with the model loaded here: a model pass on the stored
 *   photo (download, crop, views, head) plus the transaction; target ≤ 150 ms p50 like an
 *   identification (on a quiet machine);
 * - both through the callable (the functions emulator's transport included), for reference.
 * Wall-clock quantiles on a shared machine carry its load: the CPU time per call is printed
 * next to them.
 */
import { httpsCallable } from 'firebase/functions';
import { readFile } from 'node:fs/promises';
import { ensureUnderEmulators, percentile } from './support.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const runsArg = args.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : 40;

await ensureUnderEmulators(import.meta.url, args, json);

// Inside `firebase emulators:exec` from here on.
const { waitForFunctions } = await import('../emulators/wait.js');
const { seedSpeciesCatalog } = await import('../seed/species.js');
const support = await import('../../tests/e2e/support.js');
const fixtures = await import('../../tests/e2e/model-fixture.js');
const { cachedSpeciesLookup } = await import('../../functions/src/handlers/identify.js');
const { refineObservation } = await import('../../functions/src/handlers/dialogue.js');
const evidence = await import('../../functions/src/handlers/observation-evidence.js');
const { initBackend, loadFootprintModelFromDir } = await import('@wildlens/model');

const log = (m: string) => {
  if (!json) console.log(m);
};

interface Measure {
  name: string;
  calls: number;
  errors: number;
  p50: number;
  p95: number;
  cpuMsPerCall: number;
  target: string;
  ok: boolean | null;
}

async function measure(
  name: string,
  target: string,
  limit: number | null,
  calls: number,
  run: (i: number) => Promise<unknown> | unknown,
): Promise<Measure> {
  const times: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const cpu = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    try {
      await run(i);
      times.push(performance.now() - t);
    } catch (err) {
      errors++;
      firstError ??= err instanceof Error ? err.message : String(err);
    }
  }
  const used = process.cpuUsage(cpu);
  if (firstError) console.error(`${name} : première erreur : ${firstError}`);
  times.sort((a, b) => a - b);
  const p50 = percentile(times, 50);
  return {
    name,
    calls,
    errors,
    p50,
    p95: percentile(times, 95),
    cpuMsPerCall: (used.user + used.system) / 1000 / calls,
    target,
    ok: limit === null ? null : p50 <= limit && errors === 0,
  };
}

await waitForFunctions(180_000);
await seedSpeciesCatalog(support.adminDb());
const fixture = await fixtures.trainFixtureModel({ backboneId: 'auto', log });
await fixtures.installFixtureModel(support.adminBucket(), support.adminDb(), fixture);
log(`modèle ${fixture.version} (${fixture.source}) installé`);

const [real] = await fixtures.footprintPhotos(1, 5);
const photo = real ? await readFile(real.file) : await fixtures.syntheticFootprint(0, 2);
const user = await support.signedInClient();
const identify = httpsCallable<Record<string, unknown>, { observationId: string }>(
  user.functions,
  'identifyFootprint',
  { timeout: 120_000 },
);
const refine = httpsCallable(user.functions, 'refineObservation', { timeout: 120_000 });
const { observationId } = (
  await identify({ photo: photo.toString('base64'), location: { lat: 45.19, lng: 5.72 } })
).data;

/** Alternating answers, so every call really changes the observation. */
const answersAt = (i: number) => ({
  toes: i % 2 ? '4' : '5',
  length: 5 + (i % 7),
  claws: i % 3 ? 'unknown' : 'no',
});
const caller = { uid: user.uid, anonymous: false };
const noModel = {
  model: async (): Promise<never> => {
    throw new Error('refineObservation sans cadre ne doit pas lancer le modèle');
  },
};
const species = cachedSpeciesLookup(support.adminDb);
const deps = {
  db: support.adminDb(),
  bucket: support.adminBucket(),
  limits: { maxBytes: 10 << 20, maxPixels: 40_000_000, minSide: 64, photoMaxSide: 1600 },
  now: () => new Date(),
  species,
  consumeBudget: async () => ({ refund: async () => undefined }),
};
const results: Measure[] = [];

// The recomputation alone: what refineObservation computes once it has read the record.
const record =
  (await support.adminDb().doc(`users/${user.uid}/observations/${observationId}`).get()).data() ??
  {};
await refineObservation(
  caller,
  { observationId, answers: answersAt(0) },
  { ...deps, engine: noModel },
);
results.push(
  await measure('recalcul seul (sans Firestore)', '≤ 20 ms', 20, RUNS * 10, (i) => {
    const state = evidence.dialogueState(record);
    const fields = evidence.assessedFields({
      ...state,
      answers: evidence.mergeAnswers(state.answers, answersAt(i)),
    });
    return evidence.dialogueView({ ...record, ...fields });
  }),
);
results.push(
  await measure('refineObservation sans cadre (handler)', '≤ 20 ms', 20, RUNS, (i) =>
    refineObservation(
      caller,
      { observationId, answers: answersAt(i) },
      { ...deps, engine: noModel },
    ),
  ),
);

// With a region: the model loaded in this process, as a function instance holds it.
await initBackend();
const model = await loadFootprintModelFromDir(fixture.dir);
const serving = {
  version: fixture.version,
  predict: (
    image: Uint8Array,
    options?: { region?: { x: number; y: number; width: number; height: number } },
  ) => model.predict(image, options),
  dialogue: model.manifest.dialogue ?? null,
  dispose: () => model.dispose(),
};
const regionAt = (i: number) => ({ x: 0.1 + (i % 5) * 0.02, y: 0.1, width: 0.7, height: 0.75 });
await refineObservation(
  caller,
  { observationId, region: regionAt(0) },
  { ...deps, engine: { model: async () => serving } },
);
results.push(
  await measure('refineObservation avec cadre (handler)', 'p50 ≤ 150 ms', 150, RUNS, (i) =>
    refineObservation(
      caller,
      { observationId, region: regionAt(i) },
      { ...deps, engine: { model: async () => serving } },
    ),
  ),
);

// Through the callable, for reference (transport and emulator worker included).
await refine({ observationId, answers: answersAt(1) });
results.push(
  await measure('callable sans cadre', '—', null, RUNS, (i) =>
    refine({ observationId, answers: answersAt(i) }),
  ),
);
// A model pass spends one identification: a fresh account for each batch of 20 (its quota).
const framer = await support.signedInClient();
const framed = (
  await httpsCallable<Record<string, unknown>, { observationId: string }>(
    framer.functions,
    'identifyFootprint',
    { timeout: 120_000 },
  )({ photo: photo.toString('base64') })
).data.observationId;
const refineFramed = httpsCallable(framer.functions, 'refineObservation', { timeout: 120_000 });
await refineFramed({ observationId: framed, region: regionAt(0) });
results.push(
  await measure('callable avec cadre', '—', null, Math.min(RUNS, 20), (i) =>
    refineFramed({ observationId: framed, region: regionAt(i + 1) }),
  ),
);

const fmt = (ms: number) => (ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`);
log('');
log(
  '| Mesure                                 | appels | erreurs | p50      | p95      | CPU/appel | cible        | ok  |',
);
log(
  '| -------------------------------------- | ------ | ------- | -------- | -------- | --------- | ------------ | --- |',
);
for (const r of results) {
  log(
    `| ${r.name.padEnd(38)} | ${String(r.calls).padEnd(6)} | ${String(r.errors).padEnd(7)} | ${fmt(r.p50).padEnd(8)} | ${fmt(r.p95).padEnd(8)} | ${fmt(r.cpuMsPerCall).padEnd(9)} | ${r.target.padEnd(12)} | ${r.ok === null ? '—' : r.ok ? 'oui' : 'non'} |`,
  );
}
if (json) {
  console.log(
    JSON.stringify({
      model: { version: fixture.version, source: fixture.source },
      results: results.map((r) => ({
        ...r,
        p50: Math.round(r.p50 * 100) / 100,
        p95: Math.round(r.p95 * 100) / 100,
        cpuMsPerCall: Math.round(r.cpuMsPerCall * 100) / 100,
      })),
    }),
  );
}
model.dispose();
await support.closeAdmin();
process.exit(0);
