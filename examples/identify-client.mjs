#!/usr/bin/env node
// @ts-check
/**
 * Wildlens sample client: what the mobile app does, with the Firebase JS SDK, against the
 * local emulators started by `npm start`.
 *
 *   node examples/identify-client.mjs PHOTO.jpg [--keep] [--json]
 *
 * 1. signs in (anonymous account, as the app does before the user creates one);
 * 2. identifies the photo (callable identifyFootprint);
 * 3. lists the history (listObservations);
 * 4. gives feedback: "it was actually …" (setObservationFeedback), then reads it back;
 * 5. deletes the observation (deleteObservation), unless --keep.
 *
 * Emulator addresses: Auth 127.0.0.1:9099 and Functions 127.0.0.1:5001, shifted by
 * WILDLENS_PORT_OFFSET like the rest of the stack; FIREBASE_AUTH_EMULATOR_HOST wins if set.
 * Against a real project, drop the connect*Emulator calls and use the app's Firebase config.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { initializeApp } from 'firebase/app';
import { connectAuthEmulator, getAuth, signInAnonymously } from 'firebase/auth';
import { connectFunctionsEmulator, getFunctions, httpsCallable } from 'firebase/functions';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { keep: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
});
const photoPath = positionals[0];
if (!photoPath) {
  console.error('Usage : node examples/identify-client.mjs PHOTO.jpg [--keep] [--json]');
  process.exit(2);
}
/** @param {string} line */
const say = (line) => {
  if (!values.json) console.log(line);
};

const offset = Number(process.env.WILDLENS_PORT_OFFSET ?? 0);
const authHost = process.env.FIREBASE_AUTH_EMULATOR_HOST ?? `127.0.0.1:${9099 + offset}`;

// The app's Firebase configuration; a demo-* project id never reaches a real project.
const app = initializeApp({ projectId: 'demo-wildlens', apiKey: 'demo-api-key' });
const auth = getAuth(app);
connectAuthEmulator(auth, `http://${authHost}`, { disableWarnings: true });
const functions = getFunctions(app, 'europe-west1');
connectFunctionsEmulator(functions, '127.0.0.1', 5001 + offset);

/**
 * @template T
 * @param {string} name
 * @param {unknown} data
 * @returns {Promise<T>}
 */
async function call(name, data) {
  const { data: result } = await httpsCallable(functions, name, { timeout: 120_000 })(data);
  return /** @type {T} */ (result);
}

try {
  const { user } = await signInAnonymously(auth);
  say(`Connecté (compte anonyme ${user.uid}).`);

  // The photo travels as base64 (a data: URL works too).
  const photo = (await readFile(photoPath)).toString('base64');
  /** @type {{ observationId: string, verdict: string, top: { speciesId: string, probability: number }[], species: { nameFr: string } | null, hint: string | null, photoUrl: string, thumbnailUrl: string, model: { version: string } }} */
  const result = await call('identifyFootprint', { photo });
  const best = result.top[0];
  say(
    `Identification : ${result.verdict} — ${result.species?.nameFr ?? '?'} ` +
      `(${best ? (best.probability * 100).toFixed(1) : '?'} %), modèle ${result.model.version}` +
      (result.hint ? `\n  Conseil : ${result.hint}` : ''),
  );
  say(
    `  Top 3 : ${result.top.map((t) => `${t.speciesId} ${(t.probability * 100).toFixed(1)} %`).join(', ')}`,
  );
  say(`  Photo : ${result.photoUrl}`);

  /** @type {{ items: { observationId: string, speciesId: string | null, verdict: string }[], nextCursor: string | null }} */
  const history = await call('listObservations', { pageSize: 20 });
  say(
    `Historique : ${history.items.length} observation(s), la plus récente ${history.items[0]?.observationId}.`,
  );

  // The user corrects the answer: say it was the second guess (or the first, if alone).
  const corrected = (result.top[1] ?? result.top[0])?.speciesId ?? null;
  await call('setObservationFeedback', {
    observationId: result.observationId,
    correctedSpeciesId: corrected,
  });
  /** @type {{ feedback: { correctedSpeciesId: string | null } | null }} */
  const observation = await call('getObservation', { observationId: result.observationId });
  say(`Retour enregistré : c’était « ${observation.feedback?.correctedSpeciesId} ».`);

  let deleted = false;
  if (!values.keep) {
    /** @type {{ deleted: boolean }} */
    const outcome = await call('deleteObservation', { observationId: result.observationId });
    deleted = outcome.deleted;
    say(`Observation ${result.observationId} supprimée (photo et vignette comprises).`);
  }
  if (values.json)
    console.log(
      JSON.stringify({
        uid: user.uid,
        observationId: result.observationId,
        verdict: result.verdict,
        top: result.top,
        modelVersion: result.model.version,
        historyIds: history.items.map((i) => i.observationId),
        feedback: observation.feedback?.correctedSpeciesId ?? null,
        deleted,
      }),
    );
  process.exit(0);
} catch (err) {
  // Callable errors carry a code (functions/…) and a French message meant for the user.
  const e = /** @type {{ code?: string, message?: string }} */ (err);
  console.error(`Échec : ${e.code ?? 'erreur'} — ${e.message ?? String(err)}`);
  if (e.code === 'functions/failed-precondition')
    console.error('Aucun modèle actif : attendez la fin du premier entraînement de `npm start`.');
  if (e.code === 'functions/internal' && /fetch failed|ECONNREFUSED/.test(String(e.message)))
    console.error('Les émulateurs tournent-ils ? Lancez `npm start`.');
  process.exit(1);
}
