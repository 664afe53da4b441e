import { Timestamp, type Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS } from '@wildlens/shared';
import { fail } from '../common/errors.js';
import {
  INPUT_RULES,
  listObservationsRequest,
  observationCursor,
  parseInput,
} from '../api/schemas.js';
import { expertView, type ExpertView } from './review.js';

export interface ObservationsDeps {
  db: Firestore;
}

export interface ObservationSummary {
  observationId: string;
  verdict: string;
  speciesId: string | null;
  speciesNameFr: string | null;
  probability: number | null;
  thumbnailUrl: string | null;
  createdAt: string;
  takenAt: string | null;
  location: { lat: number; lng: number; accuracyM?: number } | null;
  /** How many photos the observation has (getObservation shows each of them). */
  photoCount: number;
  /** The candidate set of its (refined) result, as getObservation gives it. */
  candidates: { speciesIds: string[]; coverage: number | null };
  /** An expert's decision on the shared photo, as getObservation gives it; null before. */
  expert: ExpertView | null;
}

export const MAX_PAGE_SIZE = INPUT_RULES.maxPageSize;
const DEFAULT_PAGE_SIZE = 20;

interface Cursor {
  t: number;
  id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

/** An opaque cursor is client input like any other: decoded, then checked by its schema. */
function decodeCursor(raw: string): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    fail('invalid-argument', 'Curseur de pagination invalide.');
  }
  if (!observationCursor.safeParse(parsed).success) {
    fail('invalid-argument', 'Curseur de pagination invalide.');
  }
  return parsed as Cursor;
}

export function parseListRequest(data: unknown): { pageSize: number; cursor: Cursor | null } {
  const request = parseInput(listObservationsRequest, data);
  return {
    pageSize: request?.pageSize ?? DEFAULT_PAGE_SIZE,
    cursor: request?.cursor ? decodeCursor(request.cursor) : null,
  };
}

function isCandidates(value: unknown): value is ObservationSummary['candidates'] {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { speciesIds?: unknown }).speciesIds)
  );
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
    const top = (d.top as { speciesId: string; probability: number }[] | undefined) ?? [];
    const best = top[0];
    return {
      observationId: doc.id,
      verdict: String(d.verdict ?? 'uncertain'),
      speciesId: best?.speciesId ?? null,
      speciesNameFr: (d.speciesNameFr as string | undefined) ?? null,
      probability: best?.probability ?? null,
      thumbnailUrl: (d.thumbnailUrl as string | undefined) ?? null,
      createdAt: isoOrNull(d.createdAt) ?? new Date(0).toISOString(),
      takenAt: isoOrNull(d.takenAt),
      location: (d.location as ObservationSummary['location'] | undefined) ?? null,
      photoCount: Array.isArray(d.photos) ? Math.max(1, d.photos.length) : 1,
      candidates: isCandidates(d.candidates)
        ? d.candidates
        : // Stored before the dialogue: its top 3, with no stated coverage.
          { speciesIds: top.map((t) => t.speciesId), coverage: null },
      expert: expertView(d),
    };
  });
  const last = docs[docs.length - 1];
  const nextCursor =
    snap.docs.length > pageSize && last
      ? encodeCursor({ t: (last.get('createdAt') as Timestamp).toMillis(), id: last.id })
      : null;
  return { items, nextCursor };
}
