import { defineConfig } from 'vitest/config';
import { TEST_REQUIREMENTS } from './tests/requirements.js';

export default defineConfig({
  test: {
    // Skip reasons of `npm test`'s summary (see tests/requirements.ts).
    tags: TEST_REQUIREMENTS.map((r) => ({ name: r.name, description: r.description })),
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'functions/src/**/*.test.ts',
            'trainer/src/**/*.test.ts',
            'scripts/**/*.test.ts',
            'hosting/src/**/*.test.ts',
          ],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          globalSetup: ['tests/e2e/global-setup.ts'],
          setupFiles: ['tests/e2e/reset-emulators.ts'],
          // One emulator suite is shared: files run one after another.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'stack',
          include: ['tests/stack/**/*.test.ts'],
          // Each test starts and stops `npm start`'s stack on the same ports: one at a time.
          fileParallelism: false,
          testTimeout: 15 * 60_000,
          hookTimeout: 5 * 60_000,
        },
      },
    ],
  },
});
