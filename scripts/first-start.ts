/**
 * `npm start`'s first start (no active model): the configured datasets go through the real
 * pipeline (uploads → ingestion trigger → training run) in two phases, so identification works
 * within minutes and gets better in the background:
 *   1. the crops (domain `crop`, 285 photos in ../shared): imported, trained, activated:
 *      « Identification opérationnelle »;
 *   2. the other datasets (the field photos, 1,035): imported in the background, then a
 *      candidate trained on everything, which goes through the fair promotion rule (frozen
 *      benchmark, paired test) like any retraining; the console says what was decided and why.
 * A list without crops, or with only crops, is one phase. The plan and each phase's state are
 * kept in Firestore (`config/firstStart`), hence saved with the local state: a start after a
 * Ctrl+C resumes the phase it stopped in (photos already ingested are not sent again, the
 * trainer finds the embeddings it cached). A phase whose training fails is tried again once
 * by itself; if it fails again the console says why and what to do.
 */
import { FieldValue, type Firestore } from 'firebase-admin/firestore';
import { COLLECTIONS } from '@wildlens/shared';
import { formatDuration } from './progress.js';

export const FIRST_START_DOC = `${COLLECTIONS.config}/firstStart`;

/** How many times one start tries a phase (the first try and one automatic retry). */
export const PHASE_ATTEMPTS = 2;

export type PhaseState = 'pending' | 'importing' | 'training' | 'done' | 'failed';

export interface FirstStartPhase {
  /** Dataset folders imported in this phase (none: train on the photos already imported). */
  dirs: string[];
  /** Their domains, in the same order. */
  domains: string[];
  state: PhaseState;
  /** The phase's latest training run. */
  runId?: string;
  /** Why it failed (state `failed`), or what was decided (state `done`). */
  outcome?: string;
}

export interface FirstStartRecord {
  phases: FirstStartPhase[];
}

/**
 * The phases of a first start: the crop-domain folders first when the list also has others
 * (they are few, quick to train on, and what identifies tracks at all), then the rest; a list
 * of one kind is one phase.
 */
export function planFirstStart(folders: { dir: string; domain: string }[]): FirstStartPhase[] {
  const phase = (list: { dir: string; domain: string }[]): FirstStartPhase => ({
    dirs: list.map((f) => f.dir),
    domains: list.map((f) => f.domain),
    state: 'pending',
  });
  const crops = folders.filter((f) => f.domain === 'crop');
  const others = folders.filter((f) => f.domain !== 'crop');
  return crops.length && others.length ? [phase(crops), phase(others)] : [phase(folders)];
}

const DOMAIN_NAMES_FR: Record<string, string> = {
  crop: 'les gros plans',
  field: 'les photos de terrain',
};

function domainNameFr(domain: string): string {
  return DOMAIN_NAMES_FR[domain] ?? `le domaine « ${domain} »`;
}

/** "+12,3" / "−0,5" / "0,0": a difference of top-1 rates, in points. */
function points(delta: number): string {
  const value = Math.abs(delta * 100)
    .toFixed(1)
    .replace('.', ',');
  return `${delta > 0.0005 ? '+' : delta < -0.0005 ? '−' : ''}${value}`;
}

interface RunPromotion {
  promote?: boolean;
  reasonFr?: string;
  byDomain?: Record<string, { n: number; candidateTop1: number; activeTop1: number }>;
}

/**
 * What the promotion rule decided for a candidate, in a console line: « Modèle amélioré activé
 * (+12,3 points de top-1 sur les photos de terrain, +1,0 sur les gros plans) : … » or
 * « Candidat refusé : … ». Photos of the domains `first` come first (the phase's new photos).
 */
export function describeDecision(run: Record<string, unknown>, first: string[] = []): string {
  const promotion = (run.promotion ?? {}) as RunPromotion;
  const reason = String(promotion.reasonFr ?? run.notPromotedReason ?? '').trim();
  if (!run.promoted) return `Candidat refusé : ${reason} Le modèle actif reste en service.`;
  const domains = Object.keys(promotion.byDomain ?? {}).sort(
    (a, b) =>
      (first.includes(a) ? 0 : 1) - (first.includes(b) ? 0 : 1) || (a < b ? -1 : a > b ? 1 : 0),
  );
  const gains = domains
    .filter((d) => (promotion.byDomain?.[d]?.n ?? 0) > 0)
    .map((d, i) => {
      const t = promotion.byDomain?.[d] as { candidateTop1: number; activeTop1: number };
      return `${points(t.candidateTop1 - t.activeTop1)}${i === 0 ? ' points de top-1' : ''} sur ${domainNameFr(d)}`;
    });
  return `Modèle amélioré activé${gains.length ? ` (${gains.join(', ')})` : ''} : ${reason}`;
}

export interface FirstStartDeps {
  db: Firestore;
  /** A console line. */
  say: (line: string) => void;
  /** Aborted when the stack stops (Ctrl+C): everything stops, the record says where. */
  signal: AbortSignal;
  readFolders: (dirs: string[]) => Promise<{ dir: string; domain: string }[]>;
  importFolders: (
    dirs: string[],
    log: (line: string) => void,
    signal: AbortSignal,
  ) => Promise<unknown>;
  /** Starts a training run as an admin; returns its id. */
  startRun: () => Promise<string>;
  /** Where the run's trainer writes its log (told when it failed). */
  trainerLog: (runId: string) => string;
  now?: () => number;
}

/** The run's document once it ended (succeeded or failed), watched, not polled. */
export function runEnded(
  db: Firestore,
  runId: string,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const stop = db.doc(`${COLLECTIONS.trainingRuns}/${runId}`).onSnapshot(
      (snap) => {
        const run = snap.data();
        if (run && (run.status === 'succeeded' || run.status === 'failed')) {
          stop();
          resolve(run);
        }
      },
      (err) => reject(err),
    );
    signal.addEventListener(
      'abort',
      () => {
        stop();
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Runs (or resumes) the first start. `configuredDirs`: WILDLENS_SEED_DATASET's folders, used
 * only to plan a first start that has no record yet.
 */
export class FirstStart {
  private readonly now: () => number;
  private readonly started: number;
  private record!: FirstStartRecord;

  constructor(private readonly deps: FirstStartDeps) {
    this.now = deps.now ?? Date.now;
    this.started = this.now();
  }

  private get ref() {
    return this.deps.db.doc(FIRST_START_DOC);
  }

  private async save(index: number, fields: Partial<FirstStartPhase>): Promise<void> {
    const phase = { ...(this.record.phases[index] as FirstStartPhase), ...fields };
    if (!fields.runId && fields.state === 'importing') delete phase.runId;
    this.record.phases[index] = phase;
    await this.ref.set({ phases: this.record.phases, updatedAt: FieldValue.serverTimestamp() });
  }

  /** Plans or resumes; resolves when every phase is done, one failed for good, or the stack stops. */
  async run(configuredDirs: string[]): Promise<void> {
    const { db, say } = this.deps;
    const existing = await this.ref.get();
    if (existing.exists) {
      this.record = existing.data() as FirstStartRecord;
      const left = this.record.phases.findIndex((p) => p.state !== 'done');
      if (left === -1) return;
      say(
        `Reprise du premier démarrage, étape ${left + 1}/${this.record.phases.length} ` +
          `(${this.describePhase(left)}) : les photos déjà importées ne sont pas renvoyées.`,
      );
    } else {
      if ((await db.doc(`${COLLECTIONS.config}/activeModel`).get()).exists) return;
      const trainingImages = (await db.collection(COLLECTIONS.trainingImages).count().get()).data()
        .count;
      if (!configuredDirs.length && !trainingImages) {
        say(
          'Aucun modèle actif et aucun jeu de données configuré (WILDLENS_SEED_DATASET) : ' +
            'importez des photos depuis les pages d’administration puis lancez un entraînement.',
        );
        return;
      }
      const folders = configuredDirs.length ? await this.deps.readFolders(configuredDirs) : [];
      this.record = { phases: planFirstStart(folders) };
      await this.ref.set({
        ...this.record,
        createdAt: FieldValue.serverTimestamp(),
        updatedAt: FieldValue.serverTimestamp(),
      });
      say(this.announce());
    }
    for (let i = 0; i < this.record.phases.length; i++) {
      if (this.record.phases[i]?.state === 'done') continue;
      if (!(await this.runPhase(i))) return;
    }
    say(
      `Premier démarrage terminé (${this.record.phases.map((p, i) => `étape ${i + 1} : ${p.outcome ?? 'faite'}`).join(' ; ')}) ` +
        `en ${formatDuration(this.now() - this.started)} depuis le démarrage de la pile.`,
    );
  }

  private describePhase(index: number): string {
    const phase = this.record.phases[index] as FirstStartPhase;
    if (!phase.dirs.length) return 'entraînement sur les photos déjà importées';
    return `import de ${phase.dirs.map((d, i) => `${d} (${phase.domains[i]})`).join(', ')} puis entraînement`;
  }

  private announce(): string {
    const { phases } = this.record;
    if (phases.length === 1)
      return `Premier démarrage : aucun modèle actif. ${this.describePhase(0).replace(/^./, (c) => c.toUpperCase())}.`;
    return (
      `Premier démarrage : aucun modèle actif. Étape 1/2 : ${this.describePhase(0)} d’un premier modèle ` +
      `(identification opérationnelle dès sa fin). Étape 2/2, en arrière-plan : ${this.describePhase(1)} ` +
      'd’un candidat sur tous les jeux, activé seulement s’il fait mieux sur le banc d’essai.'
    );
  }

  /** One phase, tried up to PHASE_ATTEMPTS times; false when it failed for good or the stack stopped. */
  private async runPhase(index: number): Promise<boolean> {
    const { say, signal } = this.deps;
    const total = this.record.phases.length;
    const label = `étape ${index + 1}/${total}`;
    if (index > 0)
      say(
        `Étape ${index + 1}/${total}, en arrière-plan (l’identification reste disponible) : ${this.describePhase(index)}.`,
      );
    let reason = '';
    for (let attempt = 1; attempt <= PHASE_ATTEMPTS; attempt++) {
      try {
        const run = await this.importAndTrain(index);
        if (run.status === 'succeeded') {
          await this.conclude(index, run);
          return true;
        }
        const runId = String(this.record.phases[index]?.runId);
        reason = `${String(run.error ?? 'raison inconnue')} (journal : ${this.deps.trainerLog(runId)})`;
      } catch (err) {
        if (signal.aborted) return false;
        reason = message(err);
      }
      if (attempt < PHASE_ATTEMPTS)
        say(
          `✖ Premier démarrage, ${label} en échec : ${reason}\n  Nouvel essai automatique ` +
            '(photos importées et caractéristiques déjà calculées sont reprises)…',
        );
    }
    await this.save(index, { state: 'failed', outcome: reason }).catch(() => undefined);
    const still =
      index === 0
        ? 'Aucun modèle n’est actif : l’identification n’est pas disponible.'
        : 'Le modèle actif continue de servir les identifications.';
    say(
      `✖ Premier démarrage incomplet : ${label} a échoué ${PHASE_ATTEMPTS} fois. Raison : ${reason}\n` +
        `  ${still}\n` +
        '  Que faire : relancez `npm start` (il reprend cette étape là où elle s’est arrêtée : ' +
        'rien de ce qui est fait n’est refait), ou lancez un entraînement depuis la page ' +
        '« Entraînement » des pages d’administration.',
    );
    return false;
  }

  /** Imports the phase's photos (those not in yet), then trains, unless its run already succeeded. */
  private async importAndTrain(index: number): Promise<Record<string, unknown>> {
    const { db, signal } = this.deps;
    const phase = this.record.phases[index] as FirstStartPhase;
    if (phase.runId) {
      const previous = (await db.doc(`${COLLECTIONS.trainingRuns}/${phase.runId}`).get()).data();
      // Ctrl+C after the run but before the phase was recorded done: its verdict stands.
      if (previous?.status === 'succeeded') return previous;
    }
    await this.save(index, { state: 'importing' });
    if (phase.dirs.length)
      await this.deps.importFolders(
        phase.dirs,
        (line) => this.deps.say(`[import] ${line}`),
        signal,
      );
    signal.throwIfAborted();
    const runId = await this.deps.startRun();
    await this.save(index, { state: 'training', runId });
    return runEnded(db, runId, signal);
  }

  private async conclude(index: number, run: Record<string, unknown>): Promise<void> {
    const { db, say } = this.deps;
    const phase = this.record.phases[index] as FirstStartPhase;
    const after = formatDuration(this.now() - this.started);
    if (index === 0) {
      const active = (await db.doc(`${COLLECTIONS.config}/activeModel`).get()).get('version') as
        string | undefined;
      if (active) {
        say(
          `✔ Identification opérationnelle : modèle ${active} actif, ${after} après le démarrage de la pile.`,
        );
        await this.save(index, { state: 'done', outcome: `modèle ${active} activé` });
        return;
      }
      throw new Error(`le modèle ${String(run.modelVersion)} n’a pas été activé`);
    }
    const decision = describeDecision(run, phase.domains);
    say(`${run.promoted ? '✔' : '•'} ${decision}`);
    await this.save(index, {
      state: 'done',
      outcome: run.promoted
        ? `modèle amélioré ${String(run.modelVersion)} activé`
        : 'candidat refusé, le premier modèle reste actif',
    });
  }
}
