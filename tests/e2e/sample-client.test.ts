/**
 * The sample client of examples/ (what an app developer copies) runs as is against the
 * emulators: if the API changes under it, this test fails instead of the example rotting.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import { adminAuth, adminBucket, adminDb, closeAdmin } from './support.js';
import {
  footprintPhotos,
  installFixtureModel,
  syntheticFootprint,
  trainFixtureModel,
  type FixtureModel,
} from './model-fixture.js';

afterAll(closeAdmin);

const CLIENT = path.join(REPO_ROOT, 'examples', 'identify-client.mjs');

function runClient(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLIENT, ...args], { cwd: REPO_ROOT, env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

let fixture: FixtureModel;
let photo: string;

beforeAll(async () => {
  fixture = await trainFixtureModel({ log: (m) => console.log(`[sample client e2e] ${m}`) });
  await installFixtureModel(adminBucket(), adminDb(), fixture);
  const [real] = await footprintPhotos(1);
  if (real) photo = real.file;
  else {
    photo = path.join(os.tmpdir(), `wildlens-sample-${process.pid}.jpg`);
    await writeFile(photo, await syntheticFootprint(0, 1));
  }
});

describe('examples/identify-client.mjs', () => {
  it('signs in, identifies, lists the history, gives feedback and deletes', async () => {
    const { code, stdout, stderr } = await runClient([photo, '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
      uid: string;
      observationId: string;
      verdict: string;
      top: { speciesId: string }[];
      modelVersion: string;
      historyIds: string[];
      feedback: string | null;
      deleted: boolean;
    };
    // Signed in anonymously, as the app does before an account exists.
    const user = await adminAuth().getUser(out.uid);
    expect(user.providerData).toEqual([]);
    expect(out.modelVersion).toBe(fixture.version);
    expect(['identified', 'uncertain', 'not_a_footprint']).toContain(out.verdict);
    expect(out.historyIds).toEqual([out.observationId]);
    expect(out.feedback).toBe((out.top[1] ?? out.top[0])?.speciesId);
    expect(out.deleted).toBe(true);
    // Deleted for real: the record and both photos.
    const observation = adminDb().doc(`users/${out.uid}/observations/${out.observationId}`);
    expect((await observation.get()).exists).toBe(false);
    const [files] = await adminBucket().getFiles({ prefix: `users/${out.uid}/` });
    expect(files).toEqual([]);
  });

  it('prints a readable account of each step, and keeps the observation with --keep', async () => {
    const { code, stdout } = await runClient([photo, '--keep']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Connecté \(compte anonyme /m);
    expect(stdout).toMatch(/^Identification : /m);
    expect(stdout).toMatch(/^Historique : 1 observation/m);
    expect(stdout).toMatch(/^Retour enregistré : /m);
    expect(stdout).not.toMatch(/supprimée/);
    const uid = /compte anonyme (\S+)\)/.exec(stdout)?.[1] as string;
    const kept = await adminDb().collection(`users/${uid}/observations`).get();
    expect(kept.size).toBe(1);
  });

  it('fails with the French message and a non-zero code when the photo is not an image', async () => {
    const bad = path.join(os.tmpdir(), `wildlens-sample-${process.pid}.txt`);
    await writeFile(bad, 'pas une photo');
    const { code, stderr } = await runClient([bad]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^Échec : functions\/invalid-argument — /);
  });
});
