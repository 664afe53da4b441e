import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_DOCS, withFieldTables } from './api-docs.js';
import { REPO_ROOT } from './emulators/stack.js';

describe('API docs generated from the schemas', () => {
  it.each(GENERATED_DOCS)(
    '$file states the fields the schemas enforce',
    async ({ file, names }) => {
      const path = `${REPO_ROOT}${file}`;
      const doc = readFileSync(path, 'utf8');
      // Stale docs: run `npm run docs:api` after changing a schema.
      expect(await withFieldTables(doc, names, path)).toBe(doc);
    },
  );
});
