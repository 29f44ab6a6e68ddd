import { defineConfig } from 'vitest/config';

/**
 * Two tiers (docs/development.md#test-tiers):
 * - `unit`: pure logic (planners, failure mapping, parsers, schemas, config, drivers
 *   against fake shells). No global setup: no database, no Temporal server, no network.
 *   `npm run test:unit` runs only this project.
 * - `integration`: everything else, over a real PostgreSQL and a real Temporal server that the global
 *   setup prepares once per run. `npm test` (`vitest run`) runs both projects.
 */
const UNIT = ['test/unit/**/*.test.ts'];
// Projects repeat what they share (pool) rather than `extends: true`, which loads this file again
// for each project (and prints Vite's config-loader warning once per load).

export default defineConfig({
  test: {
    // Files run in parallel (each test uses its own account and task queue), two at a time.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          pool: 'forks',
          include: UNIT,
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'integration',
          pool: 'forks',
          include: ['test/**/*.test.ts'],
          exclude: UNIT,
          globalSetup: ['test/helpers/global-setup.ts'],
          // Integration tests run real workflows in real time on a 2-core machine.
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
