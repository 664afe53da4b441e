import { Timestamp, type Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS } from '@wildlens/shared';
import { fail } from '../common/errors.js';

export interface ObservationsDeps {
  db: Firestore;
}

export interface ObservationSummary {
  id: string;
  verdict: string;
  speciesId: string | null;
  speciesNameFr: string | null;
  probability: number | null;
  thumbnailUrl: string | null;
  createdAt: string;
  takenAt: string | null;
  location: { lat: number; lng: number; accuracyM?: number } | null;
}

export const MAX_PAGE_SIZE = 50;
const DEFAULT_PAGE_SIZE = 20;

interface Cursor {
  t: number;
  id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(raw: string): Cursor {
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof parsed.t === 'number' && typeof parsed.id === 'string' && parsed.id.length < 64) {
      return { t: parsed.t, id: parsed.id };
    }
  } catch {
    // fall through to the error below
  }
  fail('invalid-argument', 'Curseur de pagination invalide.');
}

function parseListRequest(data: unknown): { pageSize: number; cursor: Cursor | null } {
  if (data !== null && data !== undefined && typeof data !== 'object') {
    fail('invalid-argument', 'Requête invalide : un objet { pageSize?, cursor? } est attendu.');
  }
  const { pageSize, cursor } = (data ?? {}) as { pageSize?: unknown; cursor?: unknown };
  if (
    pageSize !== undefined &&
    (typeof pageSize !== 'number' ||
      !Number.isInteger(pageSize) ||
      pageSize < 1 ||
      pageSize > MAX_PAGE_SIZE)
  ) {
    fail('invalid-argument', `pageSize doit être un entier entre 1 et ${MAX_PAGE_SIZE}.`);
  }
  if (cursor !== undefined && cursor !== null && typeof cursor !== 'string') {
    fail('invalid-argument', 'Curseur de pagination invalide.');
  }
  return {
    pageSize: pageSize ?? DEFAULT_PAGE_SIZE,
    cursor: typeof cursor === 'string' && cursor ? decodeCursor(cursor) : null,
  };
}

function isoOrNull(value: unknown): string | null {
  return value instanceof Timestamp ? value.toDate().toISOString() : null;
}

/** The caller's history, newest first, with an opaque cursor for the next page. */
export async function listObservations(
  uid: string,
  data: unknown,
  deps: ObservationsDeps,
): Promise<{ items: ObservationSummary[]; nextCursor: string | null }> {
  const { pageSize, cursor } = parseListRequest(data);
  let query = deps.db
    .collection(COLLECTIONS.users)
    .doc(uid)
    .collection(COLLECTIONS.observations)
    .orderBy('createdAt', 'desc')
    .orderBy('__name__', 'desc')
    .limit(pageSize + 1);
  if (cursor) query = query.startAfter(Timestamp.fromMillis(cursor.t), cursor.id);
  const snap = await query.get();
  const docs = snap.docs.slice(0, pageSize);
  const items = docs.map((doc): ObservationSummary => {
    const d = doc.data();
    const best = (d.top as { speciesId: string; probability: number }[] | undefined)?.[0];
    return {
      id: doc.id,
      verdict: String(d.verdict ?? 'uncertain'),
      speciesId: best?.speciesId ?? null,
      speciesNameFr: (d.speciesNameFr as string | undefined) ?? null,
      probability: best?.probability ?? null,
      thumbnailUrl: (d.thumbnailUrl as string | undefined) ?? null,
      createdAt: isoOrNull(d.createdAt) ?? new Date(0).toISOString(),
      takenAt: isoOrNull(d.takenAt),
      location: (d.location as ObservationSummary['location'] | undefined) ?? null,
    };
  });
  const last = docs[docs.length - 1];
  const nextCursor =
    snap.docs.length > pageSize && last
      ? encodeCursor({ t: (last.get('createdAt') as Timestamp).toMillis(), id: last.id })
      : null;
  return { items, nextCursor };
}
