import { defineConfig } from 'vitest/config';

/**
 * Two tiers (docs/development.md#test-tiers):
 * - `unit`: pure logic (planners, failure mapping, parsers, schemas, config, drivers
 *   against fake shells). No global setup: no database, no Temporal server, no network.
 *   `npm run test:unit` runs only this project.
 * - `integration`: everything else but the labs, over a real PostgreSQL and a real Temporal server
 *   that the global setup prepares once per run.
 * - `lab`: the lab files (test/lab: the Pacific lab, the release lab's journey and faults), the same
 *   global setup. Each runs real Ceph daemons on this machine for minutes: they run one at a time,
 *   after the other files (vitest puts a project with one worker and no groupOrder in a sequential
 *   group of its own, run last), so that two labs never share the 2 cores and time out.
 * `npm test` (`vitest run`) runs all three.
 */
const UNIT = ['test/unit/**/*.test.ts'];
const LAB = ['test/lab/**/*.test.ts'];
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
          exclude: [...UNIT, ...LAB],
          globalSetup: ['test/helpers/global-setup.ts'],
          // Integration tests run real workflows in real time on a 2-core machine.
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'lab',
          pool: 'forks',
          include: LAB,
          globalSetup: ['test/helpers/global-setup.ts'],
          maxWorkers: 1,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
