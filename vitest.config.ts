import { defineConfig } from 'vitest/config';

/**
 * Two tiers (docs/development.md#test-tiers):
 * - `unit`: pure logic (planners, the operation tracker, failure mapping, parsers, schemas, drivers
 *   against fake shells). No global setup: no database, no Temporal server, no network.
 *   `npm run test:unit` runs only this project.
 * - `integration`: everything else, over a real PostgreSQL and a real Temporal server that the global
 *   setup prepares once per run. `npm test` (`vitest run`) runs both projects.
 */
const UNIT = ['test/unit/**/*.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    // Files run in parallel (each test uses its own account and task queue), two at a time.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: UNIT,
          testTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
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
