/**
 * Token download URL of a Storage object: the URL firebase-admin's getDownloadURL returns,
 * built from a token we store ourselves. getDownloadURL re-reads the object through the
 * Firebase Storage API, which evaluates storage.rules in the emulator (deny-all here) and
 * needs Google credentials in production; building it needs neither.
 */
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
