/**
 * Token download URL of a Storage object: the URL firebase-admin's getDownloadURL returns,
 * built from a token we store ourselves. getDownloadURL re-reads the object through the
 * Firebase Storage API, which evaluates storage.rules in the emulator (deny-all here) and
 * needs Google credentials in production; building it needs neither.
 *
 * Such a URL opens the object for whoever holds it, whatever storage.rules say: the token is
 * the only key. Access that must end (consent withdrawn, a guessable legacy token) ends by
 * replacing the object's token (replaceDownloadToken) or deleting the object.
 */
import type { Bucket } from '../firebase.js';

export function downloadUrl(
  bucket: string,
  path: string,
  token: string,
  origin = storageApiOrigin(),
): string {
  return `${origin}/v0/b/${bucket}/o/${encodeURIComponent(path)}?alt=media&token=${token}`;
}

export function storageApiOrigin(env: NodeJS.ProcessEnv = process.env): string {
  const emulator = env.FIREBASE_STORAGE_EMULATOR_HOST;
  if (emulator) return emulator.startsWith('http') ? emulator : `http://${emulator}`;
  return 'https://firebasestorage.googleapis.com';
}

/** The token a download URL carries (null when it is not a URL or has none). */
export function downloadTokenOf(url: unknown): string | null {
  if (typeof url !== 'string') return null;
  try {
    return new URL(url).searchParams.get('token');
  } catch {
    return null;
  }
}

/** The same download URL with another token (origin, bucket and path kept). */
export function withDownloadToken(url: string, token: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('token', token);
  return parsed.toString();
}

/** The tokens an object's custom metadata grants (Firebase keeps them comma-separated). */
export function objectDownloadTokens(custom: Record<string, unknown> | undefined): string[] {
  const raw = custom?.firebaseStorageDownloadTokens;
  return typeof raw === 'string' && raw ? raw.split(',') : [];
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404;
}

/**
 * Makes `token` the object's only download token: every URL built with another one answers
 * 403 from then on. Nothing is written when it already is. The object is copied onto itself
 * with its metadata and the new token, which replaces the whole metadata: a metadata patch would
 * not do on the Storage emulator, which adds patched tokens to the ones it has. Unlike a
 * re-upload, a copy cannot bring back an object deleted meanwhile (copying a missing object
 * fails with 404), so this never races an erasure into an orphan.
 */
export async function ensureOnlyDownloadToken(
  bucket: Bucket,
  name: string,
  token: string,
): Promise<'unchanged' | 'replaced' | 'gone'> {
  const file = bucket.file(name);
  try {
    const [metadata] = await file.getMetadata();
    const tokens = objectDownloadTokens(metadata.metadata ?? undefined);
    if (tokens.length === 1 && tokens[0] === token) return 'unchanged';
    await file.copy(file, {
      contentType: metadata.contentType,
      cacheControl: metadata.cacheControl,
      metadata: { ...(metadata.metadata ?? {}), firebaseStorageDownloadTokens: token },
    });
    return 'replaced';
  } catch (err) {
    if (isNotFound(err)) return 'gone';
    throw err;
  }
}
