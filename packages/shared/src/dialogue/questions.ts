/**
 * The questions the dialogue may ask a hiker about the print they photographed. Ids are stable
 * (stored with the observation's answers); texts are French (shown as is by the app).
 */

export const QUESTION_IDS = ['toes', 'claws', 'padShape', 'length', 'width'] as const;
export type QuestionId = (typeof QUESTION_IDS)[number];

/** The option every choice question offers: answered, but says nothing about the species. */
export const UNKNOWN_ANSWER = 'unknown';

export interface ChoiceOption {
  id: string;
  label: string;
}

export interface ChoiceQuestion {
  id: QuestionId;
  kind: 'choice';
  text: string;
  /** A hint shown under the question. */
  help?: string;
  /** The informative options, then `unknown` (« Je ne sais pas »). */
  options: ChoiceOption[];
}

export interface NumberQuestion {
  id: QuestionId;
  kind: 'number';
  text: string;
  help?: string;
  unit: 'cm';
  min: number;
  max: number;
  /** Precision the app's input offers. */
  step: number;
}

export type Question = ChoiceQuestion | NumberQuestion;

/** An answer: a choice option's id, a number (cm) for number questions, or `unknown`. */
export type AnswerValue = string | number;
export type Answers = Partial<Record<QuestionId, AnswerValue>>;

const DONT_KNOW: ChoiceOption = { id: UNKNOWN_ANSWER, label: 'Je ne sais pas' };

/** Measurements a hiker can type: 5 mm (a mouse) to 40 cm (a bear's hind foot with claws). */
export const MIN_PRINT_CM = 0.5;
export const MAX_PRINT_CM = 40;

export const QUESTIONS: Record<QuestionId, Question> = {
  toes: {
    id: 'toes',
    kind: 'choice',
    text: 'Combien de doigts voyez-vous sur l’empreinte la plus nette ?',
    help: 'Comptez les petites pelotes (ou marques de doigts) devant le grand coussinet.',
    options: [{ id: '4', label: '4' }, { id: '5', label: '5' }, DONT_KNOW],
  },
  claws: {
    id: 'claws',
    kind: 'choice',
    text: 'Voit-on des griffes ?',
    help: 'De petits trous ou traits pointus juste devant les doigts.',
    options: [{ id: 'yes', label: 'Oui' }, { id: 'no', label: 'Non' }, DONT_KNOW],
  },
  padShape: {
    id: 'padShape',
    kind: 'choice',
    text: 'Entre les doigts et le grand coussinet, quelle forme dessine l’espace vide ?',
    options: [
      { id: 'x', label: 'Un X qui ne touche aucune pelote (comme chez le chien)' },
      { id: 'c', label: 'Un C, un croissant autour du coussinet (comme chez le chat)' },
      { id: 'none', label: 'Ni l’un ni l’autre (doigts collés au coussinet, forme de main…)' },
      DONT_KNOW,
    ],
  },
  length: {
    id: 'length',
    kind: 'number',
    text: 'Longueur de l’empreinte en cm, mesurée à côté d’une règle ou d’un objet connu',
    help: 'Du bout du doigt le plus avancé à l’arrière du coussinet, sans les griffes.',
    unit: 'cm',
    min: MIN_PRINT_CM,
    max: MAX_PRINT_CM,
    step: 0.1,
  },
  width: {
    id: 'width',
    kind: 'number',
    text: 'Largeur de l’empreinte en cm, au plus large',
    unit: 'cm',
    min: MIN_PRINT_CM,
    max: MAX_PRINT_CM,
    step: 0.1,
  },
};

/** True when the answer carries no information (« Je ne sais pas »). */
export function isUnknownAnswer(value: AnswerValue | undefined): boolean {
  return value === undefined || value === UNKNOWN_ANSWER;
}

export type ParsedAnswers = { ok: true; answers: Answers } | { ok: false; error: string };

/**
 * Checks answers received from a client (an unknown JSON value): known question ids only, an
 * option of the question or `unknown` for choices, a number in range or `unknown` for
 * measurements. The error is a French sentence for the user.
 */
export function parseAnswers(raw: unknown): ParsedAnswers {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { ok: false, error: 'Les réponses doivent être un objet { question: réponse }.' };
  const answers: Answers = {};
  for (const [id, value] of Object.entries(raw as Record<string, unknown>)) {
    const question = (QUESTIONS as Record<string, Question | undefined>)[id];
    if (!question) return { ok: false, error: `Question inconnue : « ${id} ».` };
    if (value === UNKNOWN_ANSWER) {
      answers[question.id] = UNKNOWN_ANSWER;
      continue;
    }
    if (question.kind === 'choice') {
      if (typeof value !== 'string' || !question.options.some((o) => o.id === value))
        return {
          ok: false,
          error: `Réponse invalide à « ${question.text} » : choisissez parmi ${question.options
            .map((o) => `« ${o.id} »`)
            .join(', ')}.`,
        };
      answers[question.id] = value;
    } else {
      if (
        typeof value !== 'number' ||
        !Number.isFinite(value) ||
        value < question.min ||
        value > question.max
      )
        return {
          ok: false,
          error: `Réponse invalide à « ${question.text} » : un nombre de ${question.min} à ${question.max} cm, ou « ${UNKNOWN_ANSWER} ».`,
        };
      answers[question.id] = value;
    }
  }
  return { ok: true, answers };
}
