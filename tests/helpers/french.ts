/**
 * Whether a user-facing message is French, for the fuzz suites and the tests of error paths.
 *
 * A heuristic, but one that means it: the message must show French (an accented letter,
 * French quotes or apostrophe, or a word only French has) and must contain none of
 * the English words that the messages of the libraries under us are made of (the callable
 * layer's "Bad Request" / "Unauthenticated", zod's "Invalid input: expected string", busboy's
 * "Unexpected end of form", sharp's "Input buffer contains unsupported image format"…).
 */

/** Letters and signs that English messages never carry. */
const FRENCH_SIGNS = /[àâäçéèêëîïôöùûüÿœæ«»’]/i;

/** Words English does not have: French function words, and the frequent words of our messages. */
const FRENCH_WORDS = new Set(
  (
    'le la les une des du de au aux est sont pas ne et ou pour avec sans sur dans plus trop ' +
    'doit vous votre vos ce cette ces sa ses qui que ni champ fichier invalide introuvable ' +
    'inconnu inconnue envoyez utilisez connectez ensemble identifiant curseur'
  ).split(' '),
);

/**
 * Words of English sentences that no French message of ours contains as a whole word (French
 * has "invalide", "interne", "requête", "erreur"… instead).
 */
const ENGLISH_WORDS = new Set(
  (
    'the is are was be must should expected received required invalid unexpected request bad ' +
    'unauthenticated internal error failed not of to and with string number object array ' +
    'cannot missing unknown please data value input key keys field body end buffer ' +
    'unsupported exceeds limit denied permission found'
  ).split(' '),
);

/**
 * The message's own words: what it quotes (« a client's key ») and technical tokens
 * (multipart/form-data, <jeton>) are not its language.
 */
const words = (message: string): string[] =>
  message
    .replace(/«[^»]*»/g, ' ')
    .replace(/\S*[/<>_]\S*/g, ' ')
    .toLowerCase()
    .match(/[a-zàâäçéèêëîïôöùûüÿœæ]+/g) ?? [];

/** Why `message` is not French, or null when it is. */
export function notFrenchBecause(message: string): string | null {
  const all = words(message);
  const english = all.filter((w) => ENGLISH_WORDS.has(w));
  if (english.length) return `mots anglais : ${[...new Set(english)].join(', ')}`;
  if (!FRENCH_SIGNS.test(message) && !all.some((w) => FRENCH_WORDS.has(w))) {
    return 'ni accent, ni guillemets ou apostrophe français, ni mot que seul le français a';
  }
  return null;
}

export function isFrench(message: string): boolean {
  return notFrenchBecause(message) === null;
}
