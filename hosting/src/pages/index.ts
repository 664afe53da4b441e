/** Sign-in page: email/password (and Google in production), admin gate, links, health. */
import {
  GoogleAuthProvider,
  onAuthStateChanged,
  signInWithEmailAndPassword,
  signInWithPopup,
  signOut,
  type User,
} from 'firebase/auth';
import { collection, getCountFromServer, query, where } from 'firebase/firestore';
import { frenchError } from '../errors.js';
import { firebase, type Firebase } from '../firebase.js';
import {
  byId,
  formatNumber,
  isAdmin,
  refusal,
  renderHeader,
  renderSession,
  say,
  sayError,
} from '../ui.js';

const { session } = renderHeader();
const gate = byId('gate');
const signin = byId('signin');
const welcome = byId('welcome');
const status = byId('signin-status');

/** Only same-site page paths are followed after sign-in (no open redirect). */
function nextPage(): string | undefined {
  const next = new URLSearchParams(location.search).get('next');
  return next && /^\/[a-z-]+\.html$/.test(next) ? next : undefined;
}

let refusalBlock: HTMLElement | undefined;

async function show(fb: Firebase, user: User | null): Promise<void> {
  renderSession(session, fb, user);
  refusalBlock?.remove();
  refusalBlock = undefined;
  if (!user || user.isAnonymous) {
    gate.hidden = true;
    welcome.hidden = true;
    signin.hidden = false;
    return;
  }
  say(gate, 'Vérification de vos droits…');
  gate.hidden = false;
  let admin: boolean;
  try {
    admin = await isAdmin(user);
  } catch (err) {
    sayError(gate, err, 'Vérification des droits impossible : ');
    return;
  }
  gate.hidden = true;
  signin.hidden = true;
  if (!admin) {
    welcome.hidden = true;
    refusalBlock = refusal(user);
    gate.after(refusalBlock);
    return;
  }
  const next = nextPage();
  if (next) {
    location.replace(next);
    return;
  }
  byId('welcome-text').textContent =
    `Connecté en tant que ${user.email ?? user.uid} (administrateur).`;
  welcome.hidden = false;
  await showReviewBacklog(fb).catch((err: unknown) =>
    sayError(byId('review-backlog'), err, 'Photos à vérifier inconnues : '),
  );
}

/** « 8 photos à vérifier », linking to the review queue (one count aggregation). */
async function showReviewBacklog(fb: Firebase): Promise<void> {
  const snap = await getCountFromServer(
    query(collection(fb.db, 'reviewCandidates'), where('status', '==', 'pending')),
  );
  const n = snap.data().count;
  const target = byId('review-backlog');
  target.dataset.pending = String(n);
  target.dataset.tone = n ? 'warning' : 'success';
  target.hidden = false;
  byId('review-backlog-link').textContent = n
    ? `${formatNumber(n)} photo${n > 1 ? 's' : ''} à vérifier`
    : 'Aucune photo à vérifier';
}

async function main(): Promise<void> {
  const fb = await firebase();
  byId('google-block').hidden = fb.emulated;
  byId('emulator-hint').hidden = !fb.emulated;

  onAuthStateChanged(fb.auth, (user) => {
    show(fb, user).catch((err: unknown) => sayError(gate, err));
  });

  const form = byId<HTMLFormElement>('signin-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const email = byId<HTMLInputElement>('email').value.trim();
    const password = byId<HTMLInputElement>('password').value;
    if (!email || !password) {
      say(status, 'Saisissez votre adresse e-mail et votre mot de passe.', 'error');
      return;
    }
    const submit = form.querySelector('button[type="submit"]') as HTMLButtonElement;
    submit.disabled = true;
    say(status, 'Connexion…');
    (async () => {
      // An anonymous session (from the "try it" page) is replaced by the real account.
      if (fb.auth.currentUser?.isAnonymous) await signOut(fb.auth);
      await signInWithEmailAndPassword(fb.auth, email, password);
      say(status, '');
    })()
      .catch((err: unknown) => say(status, frenchError(err), 'error'))
      .finally(() => {
        submit.disabled = false;
      });
  });

  byId('google').addEventListener('click', () => {
    say(status, 'Connexion avec Google…');
    signInWithPopup(fb.auth, new GoogleAuthProvider()).then(
      () => say(status, ''),
      (err: unknown) => say(status, frenchError(err), 'error'),
    );
  });
}

interface Health {
  version?: string;
  mode?: { runtime?: string; stack?: string };
  firestore?: { speciesCount?: number | null };
  model?: { active?: string | null };
}

async function showHealth(): Promise<void> {
  const target = byId('health');
  try {
    const res = await fetch('/api/health');
    const body = (await res.json()) as Health;
    const mode =
      body.mode?.runtime === 'emulator' ? `émulateurs (${body.mode.stack ?? '?'})` : 'production';
    say(
      target,
      `${res.ok ? 'Opérationnel' : 'Dégradé'} — version ${body.version ?? '?'}, ${mode}, ` +
        `${body.firestore?.speciesCount ?? '?'} espèces, modèle actif : ${body.model?.active ?? 'aucun'}.`,
      res.ok ? 'success' : 'warning',
    );
  } catch {
    say(target, 'Service injoignable : les fonctions sont-elles démarrées ?', 'error');
  }
}

main().catch((err: unknown) => sayError(gate, err, 'Initialisation impossible : '));
void showHealth();
