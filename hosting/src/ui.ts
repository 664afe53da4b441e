/** DOM helpers, the shared header/navigation, status messages and the admin gate. */
import { onAuthStateChanged, signOut, type User } from 'firebase/auth';
import { frenchError } from './errors.js';
import { firebase, type Firebase } from './firebase.js';

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

/** Creates an element: attributes (`on*` not supported on purpose: use addEventListener). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.className = String(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`Élément #${id} absent de la page.`);
  return el as T;
}

export type Tone = 'info' | 'success' | 'error' | 'warning';

/** Writes a message into an aria-live region (role=status or role=alert set in the HTML). */
export function say(target: HTMLElement, text: string, tone: Tone = 'info'): void {
  target.textContent = text;
  target.dataset.tone = tone;
  target.hidden = text === '';
}

export function sayError(target: HTMLElement, err: unknown, prefix = ''): void {
  console.error(err);
  say(target, `${prefix}${frenchError(err)}`, 'error');
}

const numberFormat = new Intl.NumberFormat('fr-FR');
const percentFormat = new Intl.NumberFormat('fr-FR', {
  style: 'percent',
  maximumFractionDigits: 1,
});
const dateFormat = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short', timeStyle: 'medium' });

export const formatNumber = (n: number): string => numberFormat.format(n);
export const formatPercent = (r: number | undefined | null): string =>
  typeof r === 'number' && Number.isFinite(r) ? percentFormat.format(r) : '—';
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} o`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} Ko`;
  return `${(bytes / 1024 / 1024).toFixed(1).replace('.', ',')} Mo`;
}
/** Firestore Timestamp, Date or millis → French date-time, or an em dash. */
export function formatDate(value: unknown): string {
  const date = toDate(value);
  return date ? dateFormat.format(date) : '—';
}
export function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value);
  if (value && typeof (value as { toDate?: unknown }).toDate === 'function') {
    return (value as { toDate(): Date }).toDate();
  }
  return undefined;
}

const NAV = [
  { href: '/', label: 'Accueil', admin: false },
  { href: '/upload.html', label: 'Dépôt de photos', admin: true },
  { href: '/dataset.html', label: 'Jeu de données', admin: true },
  { href: '/training.html', label: 'Entraînement et modèles', admin: true },
  { href: '/try.html', label: 'Essayer', admin: false },
];

/** Renders the site header into <header id="site-header"> and reports unhandled errors. */
export function renderHeader(): { session: HTMLElement } {
  const header = byId('site-header');
  const path = location.pathname === '/index.html' ? '/' : location.pathname;
  // Admin links stay hidden until the session shows an admin (renderSession).
  const links = NAV.map((item) =>
    h(
      'li',
      { 'data-admin-link': item.admin, hidden: item.admin },
      h('a', { href: item.href, 'aria-current': item.href === path ? 'page' : null }, item.label),
    ),
  );
  const session = h('div', { class: 'session', id: 'session' });
  header.replaceChildren(
    h('a', { class: 'skip-link', href: '#main' }, 'Aller au contenu'),
    h(
      'div',
      { class: 'header-inner' },
      h('a', { class: 'brand', href: '/' }, 'Wildlens'),
      h('nav', { 'aria-label': 'Navigation principale' }, h('ul', {}, ...links)),
      session,
    ),
  );
  installGlobalErrorBanner();
  return { session };
}

function installGlobalErrorBanner(): void {
  const banner = h('div', {
    class: 'global-error',
    role: 'alert',
    id: 'global-error',
    hidden: true,
  });
  document.body.prepend(banner);
  const show = (err: unknown): void => {
    console.error(err);
    say(banner, `Une erreur est survenue : ${frenchError(err)}`, 'error');
  };
  window.addEventListener('error', (event) => show(event.error ?? event.message));
  window.addEventListener('unhandledrejection', (event) => show(event.reason));
}

/** Shows or hides the header's admin links (hidden to anyone without the admin claim). */
function showAdminLinks(visible: boolean): void {
  for (const item of document.querySelectorAll<HTMLElement>('[data-admin-link]'))
    item.hidden = !visible;
}

/** Shows who is signed in, with a sign-out button, and the admin links to admins only. */
export function renderSession(session: HTMLElement, fb: Firebase, user: User | null): void {
  showAdminLinks(false);
  if (user && !user.isAnonymous) isAdmin(user).then(showAdminLinks, () => showAdminLinks(false));
  if (!user || user.isAnonymous) {
    session.replaceChildren(h('a', { href: '/' }, 'Se connecter'));
    return;
  }
  const button = h('button', { type: 'button', class: 'link-button' }, 'Se déconnecter');
  button.addEventListener('click', () => {
    signOut(fb.auth).then(
      () => location.assign('/'),
      (err: unknown) => alert(frenchError(err)),
    );
  });
  session.replaceChildren(h('span', { class: 'who' }, user.email ?? 'compte sans e-mail'), button);
}

/** Resolves with the first known auth state (null when signed out). */
export function currentUser(fb: Firebase): Promise<User | null> {
  return new Promise((resolve) => {
    const stop = onAuthStateChanged(fb.auth, (user) => {
      stop();
      resolve(user);
    });
  });
}

/** Reads the `admin` claim, forcing a token refresh when it is missing (just granted?). */
export async function isAdmin(user: User): Promise<boolean> {
  if (user.isAnonymous) return false;
  const token = await user.getIdTokenResult();
  if (token.claims.admin === true) return true;
  const fresh = await user.getIdTokenResult(true);
  return fresh.claims.admin === true;
}

export function refusal(user: User): HTMLElement {
  return h(
    'div',
    { class: 'refusal', role: 'alert' },
    h('h2', {}, 'Accès refusé'),
    h(
      'p',
      {},
      `Le compte ${user.email ?? 'connecté'} n’a pas le rôle administrateur : ces pages sont réservées à l’équipe qui enrichit les photos d’entraînement et publie les modèles.`,
    ),
    h(
      'p',
      {},
      'Pour y accéder, demandez ce rôle à un administrateur de Wildlens (la personne qui vous a donné l’adresse de ces pages), puis reconnectez-vous. Vous pouvez déjà ',
      h('a', { href: '/try.html' }, 'essayer l’identification'),
      '.',
    ),
  );
}

/**
 * Admin pages: waits for the auth state, sends signed-out visitors to the sign-in page and shows
 * a refusal to non-admins. Resolves only for admins, after revealing <div id="app">.
 */
export async function requireAdmin(): Promise<{ fb: Firebase; user: User }> {
  const { session } = renderHeader();
  const gate = byId('gate');
  let fb: Firebase;
  try {
    fb = await firebase();
  } catch (err) {
    sayError(gate, err, 'Initialisation impossible : ');
    throw err;
  }
  const user = await currentUser(fb);
  renderSession(session, fb, user);
  if (!user || user.isAnonymous) {
    location.replace(`/?next=${encodeURIComponent(location.pathname)}`);
    return new Promise(() => {});
  }
  let admin = false;
  try {
    admin = await isAdmin(user);
  } catch (err) {
    sayError(gate, err, 'Vérification des droits impossible : ');
    return new Promise(() => {});
  }
  if (!admin) {
    gate.replaceWith(refusal(user));
    return new Promise(() => {});
  }
  gate.hidden = true;
  byId('app').hidden = false;
  return { fb, user };
}

/** Runs `work` with the button disabled and a busy label; errors go to `status`. */
export async function withBusy<T>(
  button: HTMLButtonElement,
  busyLabel: string,
  work: () => Promise<T>,
): Promise<T> {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = busyLabel;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}
