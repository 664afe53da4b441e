/**
 * Migration of the training images' download tokens (issue 20, finding 13). A download URL
 * opens its object for whoever holds it, whatever storage.rules say, so its token must be
 * unguessable. Training objects written before the HMAC key (ingestion.ts saveWithDownloadUrl)
 * carry a token anyone can compute from the object's name (a plain SHA-256 of it; random UUIDs
 * before that): those objects get the HMAC token as their only one, and their records the URL
 * that goes with it.
 *
 * Idempotent and cheap when there is nothing to do (one listing of training/ and one query of
 * the records, nothing written), so it simply runs at every `npm start` and after every
 * `firebase deploy` (the functions' postdeploy hook: `npm run migrate`). Safe against whatever
 * runs meanwhile: replacing a token copies the object onto itself, which cannot bring back an
 * object an erasure deleted (ensureOnlyDownloadToken), and a record's URL changes only in a
 * transaction that finds it still pointing at the same object (a relabel moves it to an object
 * that already has its HMAC token).
 */
import type { Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS, STORAGE_PREFIX } from '@wildlens/shared';
import type { Bucket } from '../firebase.js';
import {
  downloadTokenOf,
  downloadUrl,
  ensureOnlyDownloadToken,
  objectDownloadTokens,
  withDownloadToken,
} from '../common/download-url.js';
import { runContendedTransaction } from '../common/transactions.js';
import { downloadTokenFor, trainingTokenKey } from './ingestion.js';

export interface TokenMigrationDeps {
  db: Firestore;
  bucket: Bucket;
  /** Objects listed and records read per request. */
  pageSize?: number;
}

export interface TokenMigrationOutcome {
  /** Training objects looked at, and those whose tokens were replaced. */
  objects: number;
  tokensReplaced: number;
  /** Training image records whose URL was rewritten. */
  urlsRewritten: number;
}

export async function migrateTrainingDownloadTokens(
  deps: TokenMigrationDeps,
): Promise<TokenMigrationOutcome> {
  const pageSize = deps.pageSize ?? 500;
  const key = await trainingTokenKey(deps.db);
  const outcome: TokenMigrationOutcome = { objects: 0, tokensReplaced: 0, urlsRewritten: 0 };

  // The objects first: a guessable token stops opening anything as soon as possible.
  let pageToken: string | undefined;
  do {
    const [files, next] = await deps.bucket.getFiles({
      prefix: STORAGE_PREFIX.training,
      maxResults: pageSize,
      autoPaginate: false,
      ...(pageToken ? { pageToken } : {}),
    });
    pageToken = (next as { pageToken?: string } | null)?.pageToken;
    for (const file of files) {
      outcome.objects++;
      const token = downloadTokenFor(key, file.name);
      const tokens = objectDownloadTokens(file.metadata.metadata ?? undefined);
      if (tokens.length === 1 && tokens[0] === token) continue;
      if ((await ensureOnlyDownloadToken(deps.bucket, file.name, token)) === 'replaced') {
        outcome.tokensReplaced++;
      }
    }
  } while (pageToken);

  // Then the records' URLs, so the admin pages open the objects again.
  const images = deps.db.collection(COLLECTIONS.trainingImages);
  let after: string | undefined;
  for (;;) {
    let query = images.orderBy('__name__').select('storagePath', 'imageUrl').limit(pageSize);
    if (after) query = query.startAfter(after);
    const page = await query.get();
    if (page.empty) break;
    after = page.docs[page.docs.length - 1]?.id;
    for (const doc of page.docs) {
      const storagePath = doc.get('storagePath') as unknown;
      if (typeof storagePath !== 'string' || !storagePath.startsWith(STORAGE_PREFIX.training)) {
        continue;
      }
      const token = downloadTokenFor(key, storagePath);
      if (downloadTokenOf(doc.get('imageUrl')) === token) continue;
      const rewritten = await runContendedTransaction(deps.db, async (tx) => {
        const current = await tx.get(doc.ref);
        if (!current.exists || current.get('storagePath') !== storagePath) return false;
        const url = current.get('imageUrl') as unknown;
        if (downloadTokenOf(url) === token) return false;
        tx.update(doc.ref, {
          imageUrl:
            typeof url === 'string' && downloadTokenOf(url)
              ? withDownloadToken(url, token)
              : downloadUrl(deps.bucket.name, storagePath, token),
        });
        return true;
      });
      if (rewritten) outcome.urlsRewritten++;
    }
  }
  return outcome;
}
