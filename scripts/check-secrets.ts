/** Fails when a tracked (or staged) file holds a private key or service-account credentials. */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './emulators/stack.js';
import { findSecrets } from './secrets/detect.js';

const files = execFileSync(
  'git',
  ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
  {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  },
)
  .split('\0')
  .filter(Boolean);

const findings = files.flatMap((file) => {
  const path = join(REPO_ROOT, file);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return []; // deleted in the work tree
  }
  if (size > 5 * 1024 * 1024) return [];
  return findSecrets(file, readFileSync(path, 'latin1'));
});

if (findings.length) {
  for (const f of findings) console.error(`Secret détecté (${f.kind}) : ${f.file}`);
  console.error('Retirez ces identifiants du dépôt : utilisez des params/secrets Firebase.');
  process.exit(1);
}
console.log(`Aucun secret dans ${files.length} fichiers suivis.`);
