/** Turns any error (Auth, Firestore, callable, network) into one plain French sentence. */

const AUTH_MESSAGES: Record<string, string> = {
  'auth/invalid-credential': 'Adresse e-mail ou mot de passe incorrect.',
  'auth/invalid-login-credentials': 'Adresse e-mail ou mot de passe incorrect.',
  'auth/wrong-password': 'Adresse e-mail ou mot de passe incorrect.',
  'auth/user-not-found': 'Aucun compte ne correspond à cette adresse e-mail.',
  'auth/invalid-email': 'Adresse e-mail invalide.',
  'auth/missing-password': 'Saisissez votre mot de passe.',
  'auth/user-disabled': 'Ce compte a été désactivé.',
  'auth/too-many-requests': 'Trop de tentatives : réessayez dans quelques minutes.',
  'auth/network-request-failed':
    'Le service d’authentification est injoignable : vérifiez votre connexion.',
  'auth/popup-closed-by-user': 'La fenêtre de connexion Google a été fermée avant la fin.',
  'auth/popup-blocked': 'Le navigateur a bloqué la fenêtre de connexion Google.',
  'auth/operation-not-allowed': 'Ce mode de connexion n’est pas activé pour ce projet.',
  'auth/admin-restricted-operation': 'La connexion anonyme n’est pas activée pour ce projet.',
};

const GENERIC_MESSAGES: Record<string, string> = {
  unauthenticated: 'Vous devez être connecté pour faire cela.',
  'permission-denied': 'Accès refusé : cette action est réservée aux administrateurs.',
  unavailable: 'Le service est momentanément injoignable : réessayez dans un instant.',
  'deadline-exceeded': 'Le service a mis trop de temps à répondre : réessayez.',
  'resource-exhausted': 'Trop de demandes pour le moment : réessayez plus tard.',
  internal: 'Erreur interne du service : réessayez, puis signalez-la si elle persiste.',
  'not-found': 'Élément introuvable.',
  'failed-precondition': 'Action impossible dans l’état actuel.',
  'invalid-argument': 'Données invalides.',
  'already-exists': 'Cet élément existe déjà.',
  cancelled: 'Opération annulée.',
};

/** True when `text` looks French enough to be shown as is (servers send French messages). */
function looksFrench(text: string): boolean {
  return /[àâçéèêëîïôûùüÿœ’]|\b(le|la|les|des|une?|est|pas|pour|aucun|introuvable)\b/i.test(text);
}

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return '';
  // Callable errors are "functions/<code>", Firestore errors bare codes.
  return code.replace(/^(functions|firestore|storage)\//, '');
}

/**
 * The Functions SDK appends the HTTP status to the server's message (« … [429] »): meaningless
 * to a person, so it is cut off.
 */
export function withoutHttpStatus(message: string): string {
  return message.replace(/\s*\[\d{3}\]\s*$/, '');
}

export function frenchError(err: unknown): string {
  const code = errorCode(err);
  const raw = err instanceof Error ? err.message : typeof err === 'string' ? err : '';
  const message = withoutHttpStatus(raw);
  if (code.startsWith('auth/')) {
    return AUTH_MESSAGES[code] ?? `Erreur d’authentification (${code}).`;
  }
  // HttpsError messages from our functions are already French and precise.
  if (code && code !== 'internal' && message && looksFrench(message)) return message;
  if (code && GENERIC_MESSAGES[code]) return GENERIC_MESSAGES[code];
  if (err instanceof TypeError && /fetch|network/i.test(message)) {
    return 'Le service est injoignable : vérifiez votre connexion ou que les émulateurs tournent.';
  }
  if (message && looksFrench(message)) return message;
  return `Erreur inattendue${message ? ` : ${message}` : ''}.`;
}
