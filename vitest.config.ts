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
 *   after the other files (groupOrder 1, one worker), so that two of them never share the 2 cores.
 * - `lab-day2`: the release lab's day-2 files (maintenance and disk replacement; adding and removing
 *   hosts), last (groupOrder 2) and two at a time: each waits mostly on Ceph (boots, peering,
 *   backfill of a few MiB), they were developed and passed side by side at load 5–12, and together
 *   they take about 9 minutes where one after the other would take 13 (the 40-minute CI budget).
 * `npm test` (`vitest run`) runs all four.
 */
const UNIT = ['test/unit/**/*.test.ts'];
const LAB = ['test/lab/**/*.test.ts'];
const LAB_DAY2 = ['test/lab/release/day2-*.test.ts'];
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
          sequence: { groupOrder: 0 },
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'integration',
          pool: 'forks',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, ...LAB],
          sequence: { groupOrder: 0 },
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
          exclude: LAB_DAY2,
          globalSetup: ['test/helpers/global-setup.ts'],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'lab-day2',
          pool: 'forks',
          include: LAB_DAY2,
          globalSetup: ['test/helpers/global-setup.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
