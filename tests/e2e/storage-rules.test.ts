/**
 * storage.rules semantics: no client may read or write anything, signed in or not. Needs
 * Google's Storage rules runtime: offline, the stand-in only proves it refuses non-deny-all
 * rules (its own unit tests), so this suite reports itself skipped there.
 */
import { readFileSync } from 'node:fs';
import {
  assertFails,
  initializeTestEnvironment,
  type RulesTestEnvironment,
} from '@firebase/rules-unit-testing';
import { getBytes, ref, uploadBytes } from 'firebase/storage';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import { BUCKET, PROJECT_ID, adminBucket } from './support.js';
import { NEEDS } from '../requirements.js';

const official = process.env.WILDLENS_STORAGE_RULES_RUNTIME === 'official';
if (!official) {
  console.warn(
    'storage.rules : tests ignorés — le runtime officiel des règles Storage est absent (mode hors ligne).',
  );
}

describe.skipIf(!official)('storage.rules (official rules runtime)', NEEDS.rulesRuntime, () => {
  let env: RulesTestEnvironment;
  const paths = [
    'incoming/renard/lot/a.jpg',
    'training/renard/abc.jpg',
    'models/v1/manifest.json',
    'users/u1/observations/o1/photo.jpg',
    'rejected/x/y.jpg',
  ];

  beforeAll(async () => {
    const [host = '127.0.0.1', port = '9199'] = (
      process.env.FIREBASE_STORAGE_EMULATOR_HOST ?? ''
    ).split(':');
    env = await initializeTestEnvironment({
      projectId: PROJECT_ID,
      storage: {
        host,
        port: Number(port),
        rules: readFileSync(`${REPO_ROOT}/storage.rules`, 'utf8'),
      },
    });
    for (const p of paths) await adminBucket().file(p).save(Buffer.from('x'), { resumable: false });
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  it.each(paths)('%s: anonymous, users and admins can neither read nor write', async (path) => {
    const contexts = [
      env.unauthenticatedContext(),
      env.authenticatedContext('u1'),
      env.authenticatedContext('u2'),
      env.authenticatedContext('admin', { admin: true }),
    ];
    for (const ctx of contexts) {
      const storage = ctx.storage(`gs://${BUCKET}`);
      await assertFails(getBytes(ref(storage, path)));
      await assertFails(uploadBytes(ref(storage, path), new Uint8Array([1, 2, 3])));
    }
  });
});
