/**
 * What some tests need from the machine, as Vitest tags. A test that skips when a requirement is
 * missing carries its tag (`it.skipIf(!hasChromium)('…', NEEDS.chromium, …)`), so
 * `npm test`'s summary can say why each skipped test was skipped. The description is that reason.
 */
import type { TestOptions } from 'vitest';

export const TEST_REQUIREMENTS = [
  {
    name: 'needs-shared',
    description: '../shared absent (photos réelles de traces, jeux de données)',
  },
  {
    name: 'needs-chromium',
    description: 'Chromium absent (paquet Debian chromium, ou WILDLENS_CHROMIUM)',
  },
  {
    name: 'needs-official-storage-rules',
    description: 'runtime officiel des règles Storage absent (mode hors ligne)',
  },
  { name: 'needs-jdk', description: 'JDK absent (java et javac)' },
  {
    name: 'needs-tfjs-node',
    description:
      "@tensorflow/tfjs-node absent (il ne s'installe qu'avec un accès à internet : libtensorflow)",
  },
] as const;

export type TestRequirement = (typeof TEST_REQUIREMENTS)[number]['name'];

/** Test options tagging a test or suite with a requirement: `it.skipIf(!x)('…', NEEDS.shared, …)`. */
export const NEEDS = {
  shared: { tags: ['needs-shared'] },
  chromium: { tags: ['needs-chromium'] },
  rulesRuntime: { tags: ['needs-official-storage-rules'] },
  jdk: { tags: ['needs-jdk'] },
  tfjsNode: { tags: ['needs-tfjs-node'] },
} satisfies Record<string, TestOptions & { tags: TestRequirement[] }>;
