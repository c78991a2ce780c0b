/**
 * The dev server's process: started detached so that it outlives dbplane, found again by pid,
 * stopped by process group, and started by one dbplane process at a time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile, rm, writeFile } from 'node:fs/promises';

import { CommandFailedError, ValidationError } from './errors.js';
import { processExists } from './process.js';

const pollMilliseconds = 250;
const stopGraceMilliseconds = 10_000;

/**
 * Starts the server in its own session with its output in the log file. runCommand cannot do this:
 * it waits for the command to end, and this server must outlive the process that starts it.
 */
export async function spawnDetached(
  executable: string,
  args: string[],
  logFile: string,
): Promise<ChildProcess> {
  const log = await open(logFile, 'a');
  try {
    const child = spawn(executable, args, { detached: true, stdio: ['ignore', log.fd, log.fd] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error: NodeJS.ErrnoException) => {
        const hint = error.code === 'ENOENT' ? ' (run `bash scripts/bootstrap.sh` to install it)' : '';
        reject(new CommandFailedError({ command: executable, args, stderr: `${error.message}${hint}` }));
      });
    });
    child.unref();
    return child;
  } finally {
    await log.close();
  }
}

/** Calls check until it returns true, the time is up (false), or it throws. */
export async function waitUntil(
  timeoutMilliseconds: number,
  check: () => Promise<boolean>,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMilliseconds;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, pollMilliseconds));
  }
}

/**
 * Sends SIGTERM to the process group, then SIGKILL if the server has not ended after a grace period.
 * Node reaps its own children, so a server this process started also stops existing once it exits.
 */
export async function stopProcessGroup(pid: number): Promise<void> {
  signalGroup(pid, 'SIGTERM');
  const gone = await waitUntil(stopGraceMilliseconds, async () => !processExists(pid));
  if (gone) return;

  signalGroup(pid, 'SIGKILL');
  await waitUntil(stopGraceMilliseconds, async () => !processExists(pid));
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * Runs start while holding an exclusive lock file, so two processes sharing a data root do not both
 * start a server on the same database. A lock left by a process that died is taken over.
 */
export async function withStartLock<T>(
  lockFile: string,
  timeoutMilliseconds: number,
  start: () => Promise<T>,
): Promise<T> {
  const acquired = await waitUntil(timeoutMilliseconds, async () => {
    try {
      await writeFile(lockFile, String(process.pid), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(await readFile(lockFile, 'utf8').catch(() => ''));
    if (!Number.isInteger(holder) || holder <= 0 || !processExists(holder)) {
      await rm(lockFile, { force: true });
    }
    return false;
  });
  if (!acquired) {
    throw new ValidationError(
      lockFile,
      'no other dbplane process starting a Temporal dev server',
      `a lock held for over ${timeoutMilliseconds / 1000} s`,
    );
  }

  try {
    return await start();
  } finally {
    await rm(lockFile, { force: true });
  }
}
