/**
 * The model registry (models/{version}) and the active model pointer (config/activeModel).
 * Used by the trainer (auto-promotion) and by the admin callables (promote, rollback), so the
 * pointer, its history and the per-version status always change together, in one transaction.
 */
import type { Firestore, Transaction } from 'firebase-admin/firestore';
import { COLLECTIONS, STORAGE_PREFIX } from '@wildlens/shared';
import type { PromotionDecision } from './promotion.js';

export const ACTIVE_MODEL_DOC = `${COLLECTIONS.config}/activeModel`;
/** Enough rollbacks for any real use; keeps the public document small. */
export const MAX_HISTORY = 20;

export type RegistryErrorCode = 'not-found' | 'nothing-to-rollback' | 'not-exported';

export class RegistryError extends Error {
  constructor(
    readonly code: RegistryErrorCode,
    readonly messageFr: string,
  ) {
    super(messageFr);
  }
}

export interface ActiveModel {
  version: string;
  storagePrefix: string;
  activatedAt: Date;
  history: string[];
}

export function modelStoragePrefix(version: string): string {
  return `${STORAGE_PREFIX.models}${version}/`;
}

export async function readActiveModel(db: Firestore): Promise<ActiveModel | undefined> {
  const snap = await db.doc(ACTIVE_MODEL_DOC).get();
  return snap.exists ? (snap.data() as ActiveModel) : undefined;
}

function setActive(
  tx: Transaction,
  db: Firestore,
  version: string,
  history: string[],
  previous: string | undefined,
  now: Date,
): void {
  tx.set(db.doc(ACTIVE_MODEL_DOC), {
    version,
    storagePrefix: modelStoragePrefix(version),
    activatedAt: now,
    history: history.slice(-MAX_HISTORY),
  });
  tx.update(db.collection(COLLECTIONS.models).doc(version), { status: 'active', activatedAt: now });
  if (previous && previous !== version)
    tx.update(db.collection(COLLECTIONS.models).doc(previous), { status: 'retired' });
}

/** Makes `version` the active model; the previous one goes to the history (for rollback). */
export async function promoteModelVersion(
  db: Firestore,
  version: string,
  now: Date,
): Promise<{ active: string; previous?: string }> {
  return db.runTransaction(async (tx) => {
    const [pointer, model] = await Promise.all([
      tx.get(db.doc(ACTIVE_MODEL_DOC)),
      tx.get(db.collection(COLLECTIONS.models).doc(version)),
    ]);
    if (!model.exists) throw new RegistryError('not-found', `Modèle inconnu : « ${version} ».`);
    if (model.get('exported') === false)
      throw new RegistryError('not-exported', `Le modèle « ${version} » n’est pas exporté.`);
    const current = pointer.exists ? (pointer.get('version') as string) : undefined;
    if (current === version) return { active: version, previous: current };
    const history = pointer.exists ? ((pointer.get('history') as string[] | undefined) ?? []) : [];
    setActive(tx, db, version, current ? [...history, current] : history, current, now);
    return { active: version, previous: current };
  });
}

/** Reactivates the most recent previous version; the current one is retired. */
export async function rollbackActiveModel(db: Firestore, now: Date): Promise<{ active: string }> {
  return db.runTransaction(async (tx) => {
    const pointer = await tx.get(db.doc(ACTIVE_MODEL_DOC));
    const history = pointer.exists ? ((pointer.get('history') as string[] | undefined) ?? []) : [];
    const previous = history[history.length - 1];
    if (!previous)
      throw new RegistryError('nothing-to-rollback', 'Aucun modèle précédent : rien à restaurer.');
    const target = await tx.get(db.collection(COLLECTIONS.models).doc(previous));
    if (!target.exists)
      throw new RegistryError('not-found', `Le modèle précédent « ${previous} » est introuvable.`);
    setActive(tx, db, previous, history.slice(0, -1), pointer.get('version') as string, now);
    return { active: previous };
  });
}

/**
 * The end of a training run, in one transaction: the run must still be `running` (the stale-run
 * reaper may have failed it meanwhile: then nothing changes and the exported version stays a
 * mere candidate), and the decision (trainer/src/promotion.ts) holds only if the model active
 * *now* is the one the candidate was compared with: when an admin promoted another model (or
 * withdrew it) meanwhile, the comparison no longer says anything and nothing is promoted. The
 * decision, as applied, is stored on the run and on the candidate's registry document.
 * Idempotent: run again once it committed, it changes nothing and returns the same outcome.
 */
export async function completeRunAndMaybePromote(
  db: Firestore,
  input: {
    runId: string;
    version: string;
    decision: PromotionDecision;
    now: Date;
    runFields: Record<string, unknown>;
  },
): Promise<
  | { completed: false; runStatus: string }
  | { completed: true; promoted: boolean; promotion: PromotionDecision }
> {
  const runRef = db.collection(COLLECTIONS.trainingRuns).doc(input.runId);
  const modelRef = db.collection(COLLECTIONS.models).doc(input.version);
  return db.runTransaction(async (tx) => {
    const [run, pointer] = await Promise.all([tx.get(runRef), tx.get(db.doc(ACTIVE_MODEL_DOC))]);
    const runStatus = String(run.get('status'));
    // Run again after a commit whose answer was lost (the trainer retries it): already done.
    if (runStatus === 'succeeded' && run.get('modelVersion') === input.version)
      return {
        completed: true as const,
        promoted: run.get('promoted') === true,
        promotion: run.get('promotion') as PromotionDecision,
      };
    if (runStatus !== 'running') return { completed: false as const, runStatus };
    const current = pointer.exists ? (pointer.get('version') as string) : undefined;
    const promotion: PromotionDecision =
      (current ?? null) === input.decision.comparedWith
        ? input.decision
        : {
            ...input.decision,
            promote: false,
            rule: 'active-changed',
            reasonFr: `Le modèle actif a changé pendant l’évaluation (« ${input.decision.comparedWith ?? 'aucun'} » → « ${current ?? 'aucun'} ») : la comparaison ne vaut plus, le modèle actif est conservé (promotion manuelle possible).`,
          };
    const promoted = promotion.promote;
    if (promoted && current !== input.version) {
      const history = pointer.exists
        ? ((pointer.get('history') as string[] | undefined) ?? [])
        : [];
      setActive(
        tx,
        db,
        input.version,
        current ? [...history, current] : history,
        current,
        input.now,
      );
    }
    tx.update(modelRef, { promotion });
    tx.update(runRef, {
      ...input.runFields,
      status: 'succeeded',
      finishedAt: input.now,
      heartbeatAt: input.now,
      modelVersion: input.version,
      promoted,
      promotion,
      ...(promoted ? {} : { notPromotedReason: promotion.reasonFr }),
    });
    return { completed: true as const, promoted, promotion };
  });
}
