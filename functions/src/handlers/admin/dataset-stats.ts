/**
 * getDatasetStats: every count the dataset page shows, in one call. The counts are Firestore
 * count aggregations run here side by side (billed one read per 1,000 index entries; no image
 * or candidate is read), instead of as many requests from the browser; the review's quality
 * reads the latest decisions only (a bounded number of small documents).
 */
import type { Firestore, Query } from 'firebase-admin/firestore';
import { COLLECTIONS } from '@wildlens/shared';
import { noParameters, parseInput } from '../../api/schemas.js';

/** Sources and domains the provenance table splits by (anything else is « autres »). */
export const PROVENANCE_SOURCES = ['import', 'observation'] as const;
export const PROVENANCE_DOMAINS = ['crop', 'field', 'unspecified'] as const;

/** How many recent decisions the per-reviewer figures are computed from. */
export const RECENT_DECISIONS = 500;

export interface AgreementCounts {
  /** Acceptances with the model's top-1 as label… */
  agreeing: number;
  /** …and with another label. */
  differing: number;
}

export interface ReviewerFigures {
  reviewerUid: string;
  /** The reviewer's e-mail when Auth knows it. */
  reviewer: string | null;
  decisions: number;
  accepted: number;
  /** Acceptances with the model's top-1 as label. */
  agreeing: number;
  /** Decisions taken with a preselection, and those that kept it. */
  preselected: number;
  keptPreselection: number;
}

export interface DatasetStats {
  imagesBySpecies: Record<string, number>;
  /** Rows: « upload » (what the other sources leave), each explicit source, « total ». */
  provenance: { source: string; byDomain: Record<string, number>; other: number; total: number }[];
  review: {
    pending: number;
    disagreements: number;
    accepted: number;
    rejected: number;
    pendingBySpecies: Record<string, number>;
    /** Acceptances recorded with their preselection state (older ones are not counted). */
    agreement: { withPreselection: AgreementCounts; withoutPreselection: AgreementCounts };
    recentByReviewer: ReviewerFigures[];
  };
}

export interface DatasetStatsDeps {
  db: Firestore;
  speciesIds: string[];
  /** E-mail of each uid Auth knows (missing ones are left out). */
  reviewerEmails: (uids: string[]) => Promise<Map<string, string>>;
}

const count = async (q: Query): Promise<number> => (await q.count().get()).data().count;
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

async function trainingImageCounts(
  db: Firestore,
  speciesIds: string[],
): Promise<Pick<DatasetStats, 'imagesBySpecies' | 'provenance'>> {
  const images = db.collection(COLLECTIONS.trainingImages);
  const [perSpecies, total, byDomain, bySource, cells] = await Promise.all([
    Promise.all(speciesIds.map((id) => count(images.where('speciesId', '==', id)))),
    count(images),
    Promise.all(PROVENANCE_DOMAINS.map((d) => count(images.where('domain', '==', d)))),
    Promise.all(PROVENANCE_SOURCES.map((s) => count(images.where('source', '==', s)))),
    Promise.all(
      PROVENANCE_SOURCES.map((s) =>
        Promise.all(
          PROVENANCE_DOMAINS.map((d) =>
            count(images.where('source', '==', s).where('domain', '==', d)),
          ),
        ),
      ),
    ),
  ]);
  const row = (source: string, rowTotal: number, perDomain: number[]) => ({
    source,
    byDomain: Object.fromEntries(PROVENANCE_DOMAINS.map((d, j) => [d, perDomain[j] ?? 0])),
    other: rowTotal - sum(perDomain),
    total: rowTotal,
  });
  return {
    imagesBySpecies: Object.fromEntries(speciesIds.map((id, i) => [id, perSpecies[i] ?? 0])),
    provenance: [
      // Uploads are what the explicit sources leave (images recorded before sources existed
      // count as uploads).
      row(
        'upload',
        total - sum(bySource),
        byDomain.map((n, j) => n - sum(cells.map((r) => r[j] ?? 0))),
      ),
      ...PROVENANCE_SOURCES.map((s, i) => row(s, bySource[i] ?? 0, cells[i] ?? [])),
      row('total', total, byDomain),
    ],
  };
}

async function recentReviewers(
  deps: DatasetStatsDeps,
): Promise<DatasetStats['review']['recentByReviewer']> {
  const recent = await deps.db
    .collection(COLLECTIONS.reviewCandidates)
    .orderBy('reviewedAt', 'desc')
    .limit(RECENT_DECISIONS)
    .select('reviewerUid', 'status', 'preselection', 'keptPreselection', 'agreesWithModel')
    .get();
  const byReviewer = new Map<string, Omit<ReviewerFigures, 'reviewer'>>();
  for (const d of recent.docs) {
    const uid = d.get('reviewerUid') as string | undefined;
    if (!uid) continue;
    const figures = byReviewer.get(uid) ?? {
      reviewerUid: uid,
      decisions: 0,
      accepted: 0,
      agreeing: 0,
      preselected: 0,
      keptPreselection: 0,
    };
    figures.decisions++;
    if (d.get('status') === 'accepted') figures.accepted++;
    if (d.get('agreesWithModel') === true) figures.agreeing++;
    if (d.get('preselection') === true) figures.preselected++;
    if (d.get('keptPreselection') === true) figures.keptPreselection++;
    byReviewer.set(uid, figures);
  }
  const emails = byReviewer.size
    ? await deps.reviewerEmails([...byReviewer.keys()])
    : new Map<string, string>();
  return [...byReviewer.values()]
    .map((f) => ({ ...f, reviewer: emails.get(f.reviewerUid) ?? null }))
    .sort((a, b) => b.decisions - a.decisions);
}

async function reviewCounts(deps: DatasetStatsDeps): Promise<DatasetStats['review']> {
  const candidates = deps.db.collection(COLLECTIONS.reviewCandidates);
  const pending = candidates.where('status', '==', 'pending');
  const accepted = candidates.where('status', '==', 'accepted');
  const agreement = (preselection: boolean, agrees: boolean) =>
    count(
      accepted.where('preselection', '==', preselection).where('agreesWithModel', '==', agrees),
    );
  const [counts, perSpecies, agreementCounts, recentByReviewer] = await Promise.all([
    Promise.all([
      count(pending),
      count(pending.where('disagreement', '==', true)),
      count(accepted),
      count(candidates.where('status', '==', 'rejected')),
    ]),
    Promise.all(deps.speciesIds.map((id) => count(pending.where('proposedSpeciesId', '==', id)))),
    Promise.all([
      agreement(true, true),
      agreement(true, false),
      agreement(false, true),
      agreement(false, false),
    ]),
    recentReviewers(deps),
  ]);
  const [waiting, disagreements, acceptedCount, rejected] = counts;
  const [onAgree, onDiffer, offAgree, offDiffer] = agreementCounts;
  return {
    pending: waiting ?? 0,
    disagreements: disagreements ?? 0,
    accepted: acceptedCount ?? 0,
    rejected: rejected ?? 0,
    pendingBySpecies: Object.fromEntries(deps.speciesIds.map((id, i) => [id, perSpecies[i] ?? 0])),
    agreement: {
      withPreselection: { agreeing: onAgree ?? 0, differing: onDiffer ?? 0 },
      withoutPreselection: { agreeing: offAgree ?? 0, differing: offDiffer ?? 0 },
    },
    recentByReviewer,
  };
}

export async function getDatasetStats(
  data: unknown,
  deps: DatasetStatsDeps,
): Promise<DatasetStats> {
  parseInput(noParameters, data);
  const [images, review] = await Promise.all([
    trainingImageCounts(deps.db, deps.speciesIds),
    reviewCounts(deps),
  ]);
  return { ...images, review };
}
