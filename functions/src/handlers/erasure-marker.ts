/**
 * The erasure marker: what makes a deleted account's data stay deleted.
 *
 * An ID token outlives its account by up to an hour, and a request can be in flight when the
 * account is deleted, so checking the account at the start of a call (requireLiveCaller,
 * verifyIdToken with checkRevoked) cannot be enough: the account can go between the check and
 * the write. The account erasure therefore writes this marker FIRST, and only then lists and
 * erases the account's records and objects; every write of a user's data reads the marker in
 * the same transaction as the record it writes (runUnlessErased), and the quota ticket, a
 * blind write, reads it right after writing (refuseIfErasedAfterWrite). Firestore
 * serialises the two:
 * - the write commits before the marker: the erasure, which lists records only after the
 *   marker has committed, finds the record and erases it (with the photos it points at);
 * - the marker commits first: the write sees it and is refused (`unauthenticated`); the writer
 *   then deletes the Storage objects it wrote before its record, so nothing of it stays.
 * Photos are written before their record (a record never points at nothing), so a photo
 * written after the erasure deleted the user's prefix belongs to a write that the marker
 * refuses, and that write deletes it.
 *
 * The marker is keyed by a hash of the uid so that it names no one; it holds no data of the
 * account. It expires (Firestore TTL on expireAt) long after any token, request or retried
 * erasure of the account can still exist: ID tokens live an hour, functions at most 9 minutes,
 * the erasure is retried for up to 7 days.
 */
import { createHash } from 'node:crypto';
import type { DocumentReference, Firestore, Transaction } from 'firebase-admin/firestore';
import { fail } from '../common/errors.js';
import { runContendedTransaction } from '../common/transactions.js';

/** erasedAccounts/{sha256(uid)}: functions-only (firestore.rules deny every client). */
export const ERASED_ACCOUNTS_COLLECTION = 'erasedAccounts';

/** How long a marker outlives the erasure that wrote it. */
export const ERASURE_MARKER_TTL_MS = 30 * 86_400_000;

/** What a write for an erased account answers: the same as a revoked session. */
export const ACCOUNT_ERASED_FR = 'Ce compte a été supprimé : reconnectez-vous.';

export function erasureMarkerId(uid: string): string {
  return createHash('sha256').update(`wildlens-erased-account:${uid}`).digest('hex');
}

export function erasureMarkerRef(db: Firestore, uid: string): DocumentReference {
  return db.collection(ERASED_ACCOUNTS_COLLECTION).doc(erasureMarkerId(uid));
}

/**
 * Written by the account erasure before it erases anything (idempotent: a retried erasure
 * writes it again and keeps the first start).
 */
export async function markAccountErased(db: Firestore, uid: string, now: Date): Promise<void> {
  const ref = erasureMarkerRef(db, uid);
  await runContendedTransaction(db, async (tx) => {
    const snap = await tx.get(ref);
    tx.set(ref, {
      startedAt: (snap.get('startedAt') as unknown) ?? now,
      completedAt: null,
      expireAt: new Date(now.getTime() + ERASURE_MARKER_TTL_MS),
    });
  });
}

/** Recorded once everything of the account is gone (the marker itself stays until it expires). */
export async function markErasureCompleted(db: Firestore, uid: string, now: Date): Promise<void> {
  await erasureMarkerRef(db, uid).update({ completedAt: now });
}

/** Whether the account's erasure has started, read inside `tx`. */
export async function isErased(tx: Transaction, db: Firestore, uid: string): Promise<boolean> {
  return (await tx.get(erasureMarkerRef(db, uid))).exists;
}

/**
 * A transaction that writes a user's data, refused with `unauthenticated` when the account's
 * erasure has started: the marker is read first (reads precede writes), so the transaction and
 * the marker's write are serialised (see the module comment).
 */
export function runUnlessErased<T>(
  db: Firestore,
  uid: string,
  body: (tx: Transaction) => Promise<T>,
): Promise<T> {
  return runContendedTransaction(db, async (tx) => {
    if (await isErased(tx, db, uid)) fail('unauthenticated', ACCOUNT_ERASED_FR);
    return body(tx);
  });
}

/**
 * For a blind write that takes no transaction (a quota ticket): called after the write has
 * committed. Either the marker was already there (the write is undone by `undo` and the call
 * refused) or the marker comes later, and the erasure, listing after it, finds the write.
 */
export async function refuseIfErasedAfterWrite(
  db: Firestore,
  uid: string,
  undo: () => Promise<unknown>,
): Promise<void> {
  if (!(await erasureMarkerRef(db, uid).get()).exists) return;
  await undo();
  fail('unauthenticated', ACCOUNT_ERASED_FR);
}
