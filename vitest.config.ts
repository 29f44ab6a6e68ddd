import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    // Integration tests run real workflows in real time on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Files run in parallel (each test uses its own account and task queue), two at a time.
    maxWorkers: 2,
  },
});
