/**
 * The promotion decision in one plain French sentence, from the paired test the trainer stored
 * (trainer/src/promotion.ts): both models on the same benchmark photos, counted as photos only
 * one of them recognises. The statistics (p-values, threshold) stay in a detail of the page.
 */

/** The paired test of a candidate against the active model (trainer/src/promotion.ts). */
export interface PairedTest {
  n: number;
  candidateTop1: number;
  activeTop1: number;
  candidateOnly: number;
  activeOnly: number;
  pBetter: number;
  pWorse: number;
}

export interface Promotion {
  promote?: boolean;
  rule?: string;
  reasonFr?: string;
  alpha?: number;
  comparedWith?: string | null;
  activeSawBenchmark?: boolean;
  test?: PairedTest | null;
  byDomain?: Record<string, PairedTest>;
}

/** « photos de terrain », « gros plans »… as the object of « les 12 mêmes … ». */
const DOMAIN_PHOTOS: Record<string, string> = {
  crop: 'gros plans',
  field: 'photos de terrain',
  unspecified: 'photos de domaine non précisé',
};

/** « 0 photo reconnue », « 1 photo reconnue », « 12 photos reconnues ». */
function recognised(n: number): string {
  return n > 1 ? `${n} photos reconnues` : `${n} photo reconnue`;
}

/** « Sur les 40 mêmes photos, 12 photos reconnues par le nouveau modèle seulement, 5 par l’ancien seulement » */
function comparison(t: PairedTest, photos = 'photos'): string {
  const same = t.n > 1 ? `Sur les ${t.n} mêmes ${photos}` : `Sur la seule photo commune`;
  return `${same} du banc d’essai, ${recognised(t.candidateOnly)} par le nouveau modèle seulement, ${t.activeOnly} par l’ancien seulement`;
}

/** The decision as a person would say it; the reason recorded by the trainer when unknown. */
export function promotionSentence(promotion: Promotion | undefined): string {
  if (!promotion?.rule) return 'Aucune décision automatique enregistrée pour ce modèle.';
  const caveat = promotion.activeSawBenchmark
    ? ' L’ancien modèle a pu voir ces photos à son entraînement : la comparaison le favorise.'
    : '';
  const alpha = promotion.alpha ?? 0.05;
  const t = promotion.test;
  switch (promotion.rule) {
    case 'first-model':
      return 'Premier modèle : il n’y avait aucun modèle à comparer, il a été activé d’office.';
    case 'active-unloadable':
      return 'L’ancien modèle ne pouvait plus être chargé : le nouveau l’a remplacé d’office.';
    case 'active-changed':
      return 'Un autre modèle a été activé pendant la comparaison : celui-ci n’a pas été activé (promotion manuelle possible).';
    case 'better':
      if (t)
        return `${comparison(t)} : le nouveau modèle fait mieux, d’un écart trop net pour être dû au hasard ; il a été activé.${caveat}`;
      break;
    case 'worse':
      if (t)
        return `${comparison(t)} : le nouveau modèle fait moins bien ; l’ancien reste actif.${caveat}`;
      break;
    case 'worse-on-domain': {
      const [domain, worse] =
        Object.entries(promotion.byDomain ?? {}).find(([, d]) => d.pWorse < alpha) ?? [];
      if (domain && worse)
        return `${comparison(worse, DOMAIN_PHOTOS[domain] ?? `photos « ${domain} »`)} : le nouveau modèle fait nettement moins bien sur ce type de photo ; l’ancien reste actif.${caveat}`;
      break;
    }
    case 'tie':
      if (!t?.n)
        return 'Aucune photo du banc d’essai n’a pu être comparée : l’ancien modèle reste actif (promotion manuelle possible).';
      if (t.candidateOnly === 0 && t.activeOnly === 0)
        return `Sur les ${t.n} mêmes photos du banc d’essai, les deux modèles reconnaissent exactement les mêmes : l’ancien reste actif (promotion manuelle possible).${caveat}`;
      return `${comparison(t)} : l’écart est trop faible pour conclure ; l’ancien reste actif (promotion manuelle possible).${caveat}`;
  }
  return promotion.reasonFr ?? 'Décision automatique enregistrée sans explication.';
}

/** Short form for the models table: « Activé : fait mieux (12 contre 5 photos) ». */
export function promotionVerdict(promotion: Promotion | undefined): string {
  if (!promotion?.rule) return '—';
  const t = promotion.test;
  const counts = t?.n ? ` (${t.candidateOnly} contre ${t.activeOnly} photos)` : '';
  const verdicts: Record<string, string> = {
    'first-model': 'Activé : premier modèle',
    'active-unloadable': 'Activé : l’ancien était illisible',
    'active-changed': 'Non activé : un autre modèle l’a été entre-temps',
    better: `Activé : fait mieux${counts}`,
    worse: `Non activé : fait moins bien${counts}`,
    'worse-on-domain': 'Non activé : moins bon sur un type de photo',
    tie: `Non activé : écart trop faible${counts}`,
  };
  return verdicts[promotion.rule] ?? promotion.rule;
}
