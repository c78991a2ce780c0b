/**
 * The worker processes `dbplane up` runs: the control worker and this host's agent, as child
 * processes whose logs go to files under the data root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';

import { projectRoot } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';

export interface WorkerProcesses {
  logDirectory: string;
  stop(): Promise<void>;
}

function startWorker(
  name: string,
  script: string,
  logDirectory: string,
  environment: NodeJS.ProcessEnv,
  logger: Logger,
): ChildProcess {
  const logFile = path.join(logDirectory, `${name}.log`);
  const output = openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(projectRoot, 'dist', 'workers', script)], {
    env: environment,
    stdio: ['ignore', output, output],
  });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM')
      logger.warn('worker exited', { worker: name, code, signal, logFile });
  });
  logger.info('worker started', { worker: name, pid: child.pid, logFile });
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  await exited;
  clearTimeout(timer);
}

/** Starts both workers pointed at the given Temporal server. */
export function startWorkers(dataRoot: string, temporalAddress: string, logger: Logger): WorkerProcesses {
  const logDirectory = path.join(dataRoot, 'logs');
  mkdirSync(logDirectory, { recursive: true });
  const environment = { ...process.env, TEMPORAL_ADDRESS: temporalAddress };
  const children = [
    startWorker('control-worker', 'control.js', logDirectory, environment, logger),
    startWorker('host-agent', 'host-agent.js', logDirectory, environment, logger),
  ];
  return {
    logDirectory,
    stop: async () => {
      await Promise.all(children.map(stopChild));
    },
  };
}
