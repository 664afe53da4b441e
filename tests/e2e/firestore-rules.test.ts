/**
 * firestore.rules, case by case: every collection × {anonymous, other user, owner, admin} ×
 * {read, write}, evaluated by the real Firestore emulator. Writes the official rules
 * coverage report to .artifacts/firestore-rules-coverage.html.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
  type RulesTestContext,
  type RulesTestEnvironment,
} from '@firebase/rules-unit-testing';
import {
  collection,
  deleteDoc,
  doc,
  getDoc,
  getDocs,
  query,
  setDoc,
  updateDoc,
  where,
} from 'firebase/firestore';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/emulators/stack.js';
import {
  ERASED_ACCOUNTS_COLLECTION,
  erasureMarkerId,
} from '../../functions/src/handlers/erasure-marker.js';
import { PROJECT_ID } from './support.js';

type Actor = 'anonymous' | 'otherUser' | 'owner' | 'admin';
const ACTORS: Actor[] = ['anonymous', 'otherUser', 'owner', 'admin'];
const OWNER = 'rules-owner';

interface Case {
  path: string;
  /** Who may read; nobody may write unless listed. */
  read: Actor[];
  write: Actor[];
}

const CASES: Case[] = [
  { path: 'species/renard', read: ACTORS, write: [] },
  { path: 'config/activeModel', read: ACTORS, write: [] },
  { path: 'config/internal', read: [], write: [] },
  { path: `users/${OWNER}/observations/obs-rules`, read: ['owner'], write: [] },
  { path: `users/${OWNER}`, read: [], write: [] },
  { path: 'trainingImages/rules-hash', read: ['admin'], write: [] },
  { path: 'uploads/rules-upload', read: ['admin'], write: [] },
  { path: 'trainingRuns/rules-run', read: ['admin'], write: [] },
  { path: 'models/rules-version', read: ['admin'], write: [] },
  { path: 'reviewCandidates/rules-candidate', read: ['admin'], write: [] },
  { path: `rateLimits/${OWNER}`, read: [], write: [] },
  // Erasure markers (functions-only): a client could otherwise lift its own account's.
  { path: `${ERASED_ACCOUNTS_COLLECTION}/${erasureMarkerId(OWNER)}`, read: [], write: [] },
  { path: 'somethingElse/x', read: [], write: [] },
];

let env: RulesTestEnvironment;

function contextFor(actor: Actor): RulesTestContext {
  switch (actor) {
    case 'anonymous':
      return env.unauthenticatedContext();
    case 'otherUser':
      return env.authenticatedContext('rules-other');
    case 'owner':
      return env.authenticatedContext(OWNER);
    case 'admin':
      return env.authenticatedContext('rules-admin', { admin: true });
  }
}

beforeAll(async () => {
  const [host = '127.0.0.1', port = '8080'] = (process.env.FIRESTORE_EMULATOR_HOST ?? '').split(
    ':',
  );
  env = await initializeTestEnvironment({
    projectId: PROJECT_ID,
    firestore: {
      host,
      port: Number(port),
      rules: readFileSync(`${REPO_ROOT}/firestore.rules`, 'utf8'),
    },
  });
  await env.withSecurityRulesDisabled(async (ctx) => {
    for (const c of CASES) await setDoc(doc(ctx.firestore(), c.path), { seeded: true, n: 1 });
  });
});

afterAll(async () => {
  const [host, port] = (process.env.FIRESTORE_EMULATOR_HOST ?? '127.0.0.1:8080').split(':');
  const res = await fetch(
    `http://${host}:${port}/emulator/v1/projects/${PROJECT_ID}:ruleCoverage.html`,
  );
  if (res.ok) {
    mkdirSync(`${REPO_ROOT}/.artifacts`, { recursive: true });
    writeFileSync(`${REPO_ROOT}/.artifacts/firestore-rules-coverage.html`, await res.text());
  }
  await env.cleanup();
});

describe.each(CASES)('$path', (c) => {
  it.each(ACTORS)('%s: read as specified', async (actor) => {
    const read = getDoc(doc(contextFor(actor).firestore(), c.path));
    await (c.read.includes(actor) ? assertSucceeds(read) : assertFails(read));
  });

  it.each(ACTORS)('%s: create, update and delete as specified', async (actor) => {
    const db = contextFor(actor).firestore();
    const expectation = c.write.includes(actor) ? assertSucceeds : assertFails;
    await expectation(setDoc(doc(db, `${c.path}-new`), { n: 2 }));
    await expectation(updateDoc(doc(db, c.path), { n: 3 }));
    await expectation(deleteDoc(doc(db, c.path)));
  });
});

describe('queries', () => {
  it('the owner can list their history; nobody else can', async () => {
    const list = (actor: Actor) =>
      getDocs(query(collection(contextFor(actor).firestore(), `users/${OWNER}/observations`)));
    await assertSucceeds(list('owner'));
    await assertFails(list('otherUser'));
    await assertFails(list('anonymous'));
    await assertFails(list('admin'));
  });

  it('the owner reads their consent; nobody writes it but the functions', async () => {
    const path = `users/${OWNER}/observations/obs-consent`;
    await env.withSecurityRulesDisabled(async (ctx) => {
      await setDoc(doc(ctx.firestore(), path), { shareForTraining: true, shareForTrainingAt: 1 });
    });
    const consent = await assertSucceeds(getDoc(doc(contextFor('owner').firestore(), path)));
    if (consent.get('shareForTraining') !== true) throw new Error('consent not readable');
    await assertFails(getDoc(doc(contextFor('admin').firestore(), path)));
    await assertFails(getDoc(doc(contextFor('otherUser').firestore(), path)));
    await assertFails(
      updateDoc(doc(contextFor('owner').firestore(), path), { shareForTraining: false }),
    );
  });

  it('review candidates are listed by admins only, never by the observation’s owner', async () => {
    const candidates = (actor: Actor) =>
      getDocs(
        query(
          collection(contextFor(actor).firestore(), 'reviewCandidates'),
          where('ownerUid', '==', OWNER),
        ),
      );
    await assertSucceeds(candidates('admin'));
    await assertFails(candidates('owner'));
    await assertFails(candidates('anonymous'));
  });

  it('only admins can list training data', async () => {
    await assertSucceeds(getDocs(collection(contextFor('admin').firestore(), 'trainingImages')));
    await assertFails(getDocs(collection(contextFor('owner').firestore(), 'trainingImages')));
  });
});
