import { defineConfig } from 'vitest/config';

/**
 * `npm run bench`: speed targets, kept out of `npm test` (tests assert behaviour, never wall-clock).
 * Same real PostgreSQL and Temporal dev server as the tests (test/helpers/global-setup.ts); one
 * benchmark at a time, so they do not measure each other.
 */
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    globalSetup: ['test/helpers/global-setup.ts', 'bench/table.ts'],
    pool: 'forks',
    testTimeout: 900_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
  },
});
