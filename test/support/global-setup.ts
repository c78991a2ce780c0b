/**
 * Starts what the integration suites share, once: a build of the project, a Temporal dev server,
 * a spec under a temporary data root, and the control worker and host agent.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import type { TestProject } from 'vitest/node';

import { createLogger } from '../../lib/logger.js';
import { freeLoopbackPort } from '../../lib/ports.js';
import { ensureTemporalServer, type TemporalServer } from '../../lib/temporal-server.js';
import { projectRoot, startWorker, stopAllWorkers, type TestEnvironment } from './processes.js';
import { cleanUpDataRoot } from './cleanup.js';

declare module 'vitest' {
  export interface ProvidedContext {
    environment: TestEnvironment;
  }
}

let server: TemporalServer | undefined;
let environment: TestEnvironment | undefined;

export function testSpec(
  dataRoot: string,
  hostName: string,
  taskQueue: string,
  port: number,
  extensions = ['uuid-ossp', 'pgcrypto'],
): string {
  return `apiVersion: dbplane/v1
dataRoot: ${dataRoot}
hosts:
  - name: ${hostName}
    taskQueue: ${taskQueue}
modules:
  usersdb:
    engine: postgresql
    version: "15"
    host: ${hostName}
    image: docker.io/library/postgres:15
    rootfs: /
    port: ${port}
    volumes:
      data: { size: 2GiB }
    extensions: [${extensions.join(', ')}]
    tuning: { memory: 1GiB }
    backup:
      retention: { last: 2, daily: 2, weekly: 1, monthly: 1 }
      checkSubset: 50%
  agentsdb:
    enabled: false
    engine: pgvector
    version: "16"
    host: ${hostName}
    image: docker.io/pgvector/pgvector:pg16
    port: ${port + 1}
    volumes:
      data: { size: 1GiB }
`;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: projectRoot, stdio: 'inherit' });

  const root = mkdtempSync('/tmp/dbplane-it-');
  const logger = createLogger('test-setup');
  server = await ensureTemporalServer({ dataRoot: path.join(root, 'temporal-data'), logger });

  const hostName = 'test';
  const hostTaskQueue = `dbplane-host-${path.basename(root)}`;
  const dataRoot = path.join(root, 'data');
  const specFile = path.join(root, 'platform.yaml');
  const modulePort = await freeLoopbackPort();
  writeFileSync(specFile, testSpec(dataRoot, hostName, hostTaskQueue, modulePort));

  environment = {
    root,
    temporalAddress: server.address,
    namespace: 'default',
    specFile,
    dataRoot,
    hostTaskQueue,
    hostName,
    modulePort,
    workerEnvironment: {
      TEMPORAL_ADDRESS: server.address,
      DBPLANE_SPEC: specFile,
      DBPLANE_HOST: hostName,
      DBPLANE_CONTROL_METRICS_PORT: String(await freeLoopbackPort()),
      DBPLANE_HOST_METRICS_PORT: String(await freeLoopbackPort()),
      DBPLANE_LOG_LEVEL: 'info',
    },
  };
  startWorker(environment, 'control');
  startWorker(environment, 'host-agent');
  project.provide('environment', environment);

  return async () => {
    if (!environment) return;
    await stopAllWorkers(environment);
    await cleanUpDataRoot(environment.root);
    await server?.stop();
    if (process.env.DBPLANE_KEEP_TEST_DATA) {
      process.stderr.write(`test data kept under ${environment.root}\n`);
      return;
    }
    for (const name of ['control', 'host-agent']) {
      const log = path.join(environment.root, 'logs', `${name}.log`);
      if (process.env.DBPLANE_SHOW_WORKER_LOGS) process.stderr.write(readFileSync(log, 'utf8'));
    }
    rmSync(environment.root, { recursive: true, force: true });
  };
}
