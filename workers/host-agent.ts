/**
 * A host agent: runs podman, XFS, restic and file work on the host that owns the volumes, on
 * that host's own task queue. At start it thaws any volume a crashed run left frozen.
 */
import { Worker } from '@temporalio/worker';

import * as activities from '../activities/host/index.js';
import { thawIfFrozen } from '../activities/host/freeze.js';
import { readConfig } from '../lib/config.js';
import { ValidationError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { loadSpecFile } from '../lib/spec/load.js';
import { planModule, type ModulePlan } from '../lib/spec/plan.js';
import { enabledModules } from '../lib/spec/plan.js';
import { activityInterceptors, connect, installRuntime, runUntilSignalled } from './runtime.js';

async function thawLeftovers(plans: ModulePlan[], logger: Logger): Promise<void> {
  for (const plan of plans) {
    if (await thawIfFrozen(plan.paths.mountPoint).catch(() => false)) {
      logger.warn('thawed a volume left frozen by an earlier run', {
        module: plan.module,
        mountPoint: plan.paths.mountPoint,
      });
    }
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = await installRuntime('host-agent', config.hostMetricsPort);
  const { spec, directory } = loadSpecFile(config.specFile);
  const hostName = config.hostName ?? spec.hosts[0]?.name;
  const host = spec.hosts.find((candidate) => candidate.name === hostName);
  if (!host) {
    throw new ValidationError(
      'DBPLANE_HOST',
      `one of the spec's hosts ${spec.hosts.map((h) => h.name).join(', ')}`,
      JSON.stringify(hostName),
    );
  }
  const plans = enabledModules(spec)
    .map((name) => {
      try {
        return planModule(spec, directory, name);
      } catch {
        return undefined;
      }
    })
    .filter((plan): plan is ModulePlan => plan?.host === host.name);
  await thawLeftovers(plans, logger);

  const connection = await connect(config);
  const worker = await Worker.create({
    connection,
    namespace: config.namespace,
    taskQueue: host.taskQueue,
    activities,
    interceptors: { activity: activityInterceptors },
    shutdownGraceTime: '20 seconds',
  });
  logger.info('host agent started', {
    host: host.name,
    taskQueue: host.taskQueue,
    temporal: config.temporalAddress,
  });
  await runUntilSignalled(worker, connection, logger, config.hostMetricsPort, () =>
    thawLeftovers(plans, logger),
  );
}

main().catch((error: Error) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', component: 'host-agent', message: error.message })}\n`,
  );
  process.exit(1);
});
