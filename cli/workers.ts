/**
 * The worker processes `dbplane up` runs: the control worker and this host's agent, as child
 * processes whose logs go to files under the data root. A worker that dies is started again, so
 * that a crash costs a retry of its running activities and nothing more.
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

const restartDelayMilliseconds = 1_000;
const stopGraceMilliseconds = 40_000;
/** A worker that dies this often within a minute is left down: something is wrong that a restart cannot fix. */
const maximumRestartsPerMinute = 5;

interface SupervisedWorker {
  name: string;
  script: string;
  child: ChildProcess | undefined;
  restarts: number[];
}

function spawnWorker(
  worker: SupervisedWorker,
  logDirectory: string,
  environment: NodeJS.ProcessEnv,
): ChildProcess {
  const output = openSync(path.join(logDirectory, `${worker.name}.log`), 'a');
  return spawn(process.execPath, [path.join(projectRoot, 'dist', 'workers', worker.script)], {
    env: environment,
    stdio: ['ignore', output, output],
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), stopGraceMilliseconds);
  await exited;
  clearTimeout(timer);
}

/** Starts both workers pointed at the given Temporal server, and keeps them running until stop(). */
export function startWorkers(dataRoot: string, temporalAddress: string, logger: Logger): WorkerProcesses {
  const logDirectory = path.join(dataRoot, 'logs');
  mkdirSync(logDirectory, { recursive: true });
  const environment = { ...process.env, TEMPORAL_ADDRESS: temporalAddress };
  let stopping = false;
  // Ctrl-C reaches the workers too (one process group); their exit then is no crash to recover from.
  const markStopping = () => {
    stopping = true;
  };
  process.once('SIGINT', markStopping);
  process.once('SIGTERM', markStopping);

  const workers: SupervisedWorker[] = [
    { name: 'control-worker', script: 'control.js', child: undefined, restarts: [] },
    { name: 'host-agent', script: 'host-agent.js', child: undefined, restarts: [] },
  ];
  const start = (worker: SupervisedWorker) => {
    const child = spawnWorker(worker, logDirectory, environment);
    worker.child = child;
    logger.info('worker started', {
      worker: worker.name,
      pid: child.pid,
      logFile: path.join(logDirectory, `${worker.name}.log`),
    });
    child.on('exit', (code, signal) => {
      if (stopping) return;
      const now = Date.now();
      worker.restarts = [...worker.restarts.filter((time) => now - time < 60_000), now];
      if (worker.restarts.length > maximumRestartsPerMinute) {
        logger.error('worker keeps dying; leaving it stopped', { worker: worker.name, code, signal });
        return;
      }
      logger.warn('worker exited; starting it again', { worker: worker.name, code, signal });
      setTimeout(() => {
        if (!stopping) start(worker);
      }, restartDelayMilliseconds).unref();
    });
  };
  workers.forEach(start);

  return {
    logDirectory,
    stop: async () => {
      stopping = true;
      process.off('SIGINT', markStopping);
      process.off('SIGTERM', markStopping);
      await Promise.all(workers.map((worker) => stopChild(worker.child)));
    },
  };
}
