// Offline stand-in for the Storage emulator's rules runtime (see
// tools/storage-rules-standin/StorageRulesStandIn.java): only honest for deny-all rules, so the
// launcher checks storage.rules with isDenyAllStorageRules() before pointing
// STORAGE_EMULATOR_BINARY_PATH at the jar built by buildStorageRulesStandIn().
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const STORAGE_RULES_STANDIN_SOURCE = fileURLToPath(
  new URL('../../tools/storage-rules-standin/StorageRulesStandIn.java', import.meta.url),
);
const MAIN_CLASS = 'StorageRulesStandIn';

// Keep identical to StorageRulesStandIn.DenyAllRules (Java).
const RESERVED_WORDS = new Set([
  'allow',
  'match',
  'service',
  'if',
  'true',
  'false',
  'null',
  'function',
  'return',
  'let',
  'in',
  'is',
  'rules_version',
]);

/**
 * Words, quoted strings (with their quotes) and single punctuation characters; ASCII whitespace
 * and comments dropped. Whitespace never joins two words and comment markers inside strings stay
 * string content. Null when a comment or string is unterminated.
 */
function tokenizeRules(source: string): string[] | null {
  const tokens: string[] = [];
  const isWordChar = (ch: string): boolean => /^[A-Za-z0-9_]$/.test(ch);
  let i = 0;
  while (i < source.length) {
    const ch = source.charAt(i);
    if (' \t\n\r\f\v'.includes(ch)) {
      i++;
    } else if (source.startsWith('//', i)) {
      while (i < source.length && source[i] !== '\n' && source[i] !== '\r') i++;
    } else if (source.startsWith('/*', i)) {
      const end = source.indexOf('*/', i + 2);
      if (end < 0) return null;
      i = end + 2;
    } else if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== ch) j += source[j] === '\\' ? 2 : 1;
      if (j >= source.length) return null;
      tokens.push(source.slice(i, j + 1));
      i = j + 1;
    } else if (isWordChar(ch)) {
      let j = i;
      while (j < source.length && isWordChar(source.charAt(j))) j++;
      tokens.push(source.slice(i, j));
      i = j;
    } else {
      tokens.push(ch);
      i++;
    }
  }
  return tokens;
}

/**
 * True only for rules that deny every client read and write:
 * `[rules_version = '2';] service firebase.storage { match /b/{X}/o { match /{Y=**} {
 * [allow read, write: if false;] } } }` with any comments/whitespace and any wildcard names.
 */
export function isDenyAllStorageRules(source: string): boolean {
  const tokens = tokenizeRules(source);
  if (tokens === null) return false;
  let position = 0;
  const accept = (...expected: string[]): boolean => {
    if (expected.some((token, offset) => tokens[position + offset] !== token)) return false;
    position += expected.length;
    return true;
  };
  const identifier = (): string | null => {
    const token = tokens[position];
    if (token === undefined || !/^[A-Za-z_]\w*$/.test(token) || RESERVED_WORDS.has(token)) {
      return null;
    }
    position++;
    return token;
  };

  if (
    accept('rules_version') &&
    !(accept('=') && (accept("'2'") || accept('"2"')) && accept(';'))
  ) {
    return false;
  }
  if (!accept('service', 'firebase', '.', 'storage', '{', 'match', '/', 'b', '/', '{'))
    return false;
  const bucketVariable = identifier();
  if (bucketVariable === null || !accept('}', '/', 'o', '{', 'match', '/', '{')) return false;
  const pathVariable = identifier();
  if (pathVariable === null || pathVariable === bucketVariable) return false;
  if (!accept('=', '*', '*', '}', '{')) return false;
  if (accept('allow') && !accept('read', ',', 'write', ':', 'if', 'false', ';')) return false;
  return accept('}', '}', '}') && position === tokens.length;
}

/** French + English refusal for the launcher when storage.rules cannot be served offline. */
export function storageRulesNotDenyAllMessage(rulesPath: string): string {
  return (
    `${rulesPath} n'interdit pas tout accès client : le remplaçant hors ligne du moteur de règles ` +
    `Storage ne sait évaluer exactement que des règles « tout refuser ». Lancez une fois les ` +
    `émulateurs avec Internet pour mettre en cache le moteur officiel.\n` +
    `${rulesPath} is not deny-all: the offline Storage rules stand-in can only evaluate ` +
    `deny-all rules exactly. Run the emulators online once to cache the official rules runtime.`
  );
}

async function runJdkTool(tool: 'javac' | 'jar', args: string[]): Promise<void> {
  try {
    await execFileAsync(tool, args, { maxBuffer: 4 * 1024 * 1024 });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') {
      throw new Error(
        `« ${tool} » introuvable : un JDK 17 ou plus récent est requis pour construire le ` +
          `remplaçant du moteur de règles Storage (apt-get install openjdk-17-jdk-headless).\n` +
          `"${tool}" not found: a JDK 17+ is required to build the Storage rules stand-in.`,
        { cause: error },
      );
    }
    throw new Error(
      `Échec de ${tool} (construction du remplaçant du moteur de règles Storage) / ${tool} failed ` +
        `building the Storage rules stand-in:\n${failure.stderr ?? failure.message}`,
      { cause: error },
    );
  }
}

/**
 * Compiles and packages the stand-in into
 * `<cacheDir>/storage-rules-standin-<sha256(source) 12 hex>.jar`, reusing an existing one, and
 * returns its path.
 */
export async function buildStorageRulesStandIn(cacheDir: string): Promise<string> {
  const source = await readFile(STORAGE_RULES_STANDIN_SOURCE);
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const jarPath = path.join(path.resolve(cacheDir), `storage-rules-standin-${digest}.jar`);
  try {
    await access(jarPath);
    return jarPath;
  } catch {
    // Not built yet for this source.
  }
  await mkdir(path.dirname(jarPath), { recursive: true });
  const workDir = await mkdtemp(path.join(path.dirname(jarPath), '.storage-rules-standin-build-'));
  try {
    const classesDir = path.join(workDir, 'classes');
    const manifestPath = path.join(workDir, 'MANIFEST.MF');
    const partialJar = path.join(workDir, 'standin.jar');
    await runJdkTool('javac', [
      '--release',
      '17',
      '-encoding',
      'UTF-8',
      '-d',
      classesDir,
      STORAGE_RULES_STANDIN_SOURCE,
    ]);
    await writeFile(manifestPath, `Main-Class: ${MAIN_CLASS}\n`);
    await runJdkTool('jar', [
      '--create',
      '--file',
      partialJar,
      '--manifest',
      manifestPath,
      '-C',
      classesDir,
      '.',
    ]);
    // Rename within the same directory so a concurrent reader never sees a half-written jar.
    await rename(partialJar, jarPath);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return jarPath;
}
