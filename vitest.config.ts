import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          // The suites share one Temporal server, one set of workers and real volumes: run them in order.
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      { test: { name: 'replay', include: ['test/replay/**/*.test.ts'], testTimeout: 120_000 } },
    ],
  },
});
