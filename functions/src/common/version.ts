import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = '@wildlens/functions';

/**
 * The functions' package.json, searched upward from this file: it is two levels up in the tsc
 * output (lib/common/version.js) but one in the deployed bundle (lib/index.js, whose parent's
 * parent does not exist on Cloud Functions).
 */
export function functionsPackageJson(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'package.json');
    if (
      existsSync(candidate) &&
      (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === PACKAGE_NAME
    )
      return candidate;
    if (path.dirname(dir) === dir) throw new Error(`${PACKAGE_NAME}/package.json introuvable`);
  }
}

/** Version of the functions package, read once. */
export const FUNCTIONS_VERSION: string = (
  JSON.parse(readFileSync(functionsPackageJson(), 'utf8')) as { version: string }
).version;
