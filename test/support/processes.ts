/**
 * Worker processes for the integration tests: started from the compiled workers, logging to files
 * under the test root, their pids recorded so teardown stops every one of them.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { processExists } from '../../lib/process.js';

export const projectRoot = path.resolve(import.meta.dirname, '..', '..');

export interface TestEnvironment {
  root: string;
  temporalAddress: string;
  namespace: string;
  specFile: string;
  dataRoot: string;
  hostTaskQueue: string;
  hostName: string;
  modulePort: number;
  workerEnvironment: Record<string, string>;
}

export type WorkerName = 'control' | 'host-agent';

function pidsFile(environment: TestEnvironment): string {
  return path.join(environment.root, 'pids');
}

/** Starts a worker process in its own session; returns its pid. */
export function startWorker(environment: TestEnvironment, name: WorkerName): number {
  const logDirectory = path.join(environment.root, 'logs');
  mkdirSync(logDirectory, { recursive: true });
  const output = openSync(path.join(logDirectory, `${name}.log`), 'a');
  const child = spawn(process.execPath, [path.join(projectRoot, 'dist', 'workers', `${name}.js`)], {
    env: { ...process.env, ...environment.workerEnvironment },
    stdio: ['ignore', output, output],
    detached: true,
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start the ${name} worker`);
  appendFileSync(pidsFile(environment), `${name} ${child.pid}\n`);
  return child.pid;
}

/** The pid of the newest process started for a worker name. */
export function workerPid(environment: TestEnvironment, name: WorkerName): number {
  const lines = readFileSync(pidsFile(environment), 'utf8').trim().split('\n');
  const line = lines.filter((entry) => entry.startsWith(`${name} `)).pop();
  if (!line) throw new Error(`no ${name} worker was started`);
  return Number(line.split(' ')[1]);
}

/** Polls a condition until it holds or the time is up. */
export async function waitFor(
  description: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMilliseconds = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMilliseconds;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Stops every worker started for this environment: SIGTERM, then SIGKILL after a grace time. */
export async function stopAllWorkers(environment: TestEnvironment): Promise<void> {
  let pids: number[] = [];
  try {
    pids = readFileSync(pidsFile(environment), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => Number(line.split(' ')[1]));
  } catch {
    return;
  }
  for (const pid of pids) if (processExists(pid)) process.kill(pid, 'SIGTERM');
  await waitFor('workers to stop', () => pids.every((pid) => !processExists(pid)), 45_000).catch(() => {
    for (const pid of pids) if (processExists(pid)) process.kill(pid, 'SIGKILL');
  });
}
