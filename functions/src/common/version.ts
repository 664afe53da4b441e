import { readFileSync } from 'node:fs';

/** Version of the functions package, read once. */
export const FUNCTIONS_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
