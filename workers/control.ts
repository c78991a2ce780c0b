/**
 * The control worker: runs every workflow and the database-level activities, on the control
 * task queue.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

import { Worker } from '@temporalio/worker';

import * as activities from '../activities/control/index.js';
import { readConfig } from '../lib/config.js';
import { controlTaskQueue } from '../lib/task-queues.js';
import { registerCatalogMetrics } from '../lib/metrics.js';
import { loadSpecFile } from '../lib/spec/load.js';
import { resolveDataRoot } from '../lib/spec/plan.js';
import { activityInterceptors, connect, installRuntime, runUntilSignalled } from './runtime.js';

const require = createRequire(import.meta.url);

async function main(): Promise<void> {
  const config = readConfig();
  const logger = await installRuntime('control-worker', config.controlMetricsPort);
  const { spec, directory } = loadSpecFile(config.specFile);
  registerCatalogMetrics(() => [
    ...new Set(spec.hosts.map((host) => path.join(resolveDataRoot(spec, directory, host.name), 'catalog'))),
  ]);

  const connection = await connect(config);
  const worker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: controlTaskQueue,
    workflowsPath: require.resolve('../workflows/index.js'),
    activities,
    interceptors: { activity: activityInterceptors },
    shutdownGraceTime: '30 seconds',
  });
  logger.info('control worker started', { taskQueue: controlTaskQueue, temporal: config.temporalAddress });
  await runUntilSignalled(worker, connection, logger, config.controlMetricsPort);
}

main().catch((error: Error) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', component: 'control-worker', message: error.message })}\n`,
  );
  process.exit(1);
});
