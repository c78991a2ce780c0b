/**
 * Filesystem freezes that cannot outlive their purpose. A detached watchdog process does the
 * freeze and thaws the filesystem when the freeze runs past its deadline or when the process
 * that asked for it dies, so a crashed worker never leaves a database's volume frozen.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { projectRoot } from '../../lib/config.js';
import { CommandFailedError, ValidationError, type CommandFailure } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { runCommand } from '../../lib/process.js';
import { isMountPoint } from './mount-table.js';
import { resolveHostTool } from './mount-tools.js';
import { thawWatchdogExitCodes } from './thaw-watchdog.js';

export interface FreezeOptions {
  /** The watchdog thaws the filesystem this long after the freeze took hold. */
  maximumFrozenMilliseconds: number;
  logger: Logger;
}

/** A frozen filesystem; thaw it as soon as the consistent copy is made. */
export interface FrozenFilesystem {
  mountPoint: string;
  /**
   * Thaws the filesystem and stops its watchdog; calling it again does nothing. Rejects with
   * FreezeWindowExceededError when the filesystem had been thawed before, by the watchdog or by
   * anyone else, since whatever was copied "while frozen" may then be inconsistent.
   */
  thaw(): Promise<void>;
}

/** The filesystem was thawed before its holder thawed it: a copy made meanwhile is not trustworthy. */
export class FreezeWindowExceededError extends CommandFailedError {
  override readonly name = 'FreezeWindowExceededError';

  constructor(failure: CommandFailure, explanation: string) {
    super(failure);
    this.message = explanation;
  }
}

const maximumAllowedFrozenMilliseconds = 10 * 60_000;
const watchdogStopWaitMilliseconds = 2_000;
const watchdogFinishWaitMilliseconds = 1_000;
const watchdogScriptName = 'thaw-watchdog.js';

/**
 * The compiled watchdog script. Next to this file when running from dist/; when running from the
 * TypeScript source (tests), node cannot run the .ts sibling, so the build output is used.
 */
export function thawWatchdogScript(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = path.join(path.dirname(here), watchdogScriptName);
  if (here.endsWith('.js') && existsSync(sibling)) return sibling;

  const built = path.join(projectRoot, 'dist', 'activities', 'host', watchdogScriptName);
  if (existsSync(built)) return built;
  throw new Error(`the thaw watchdog is not built: run npm run build (looked for ${built})`);
}

interface RunningWatchdog {
  child: ChildProcess;
  ended: Promise<number | null>;
}

async function checkFreezable(mountPoint: string): Promise<string> {
  const refuse = (received: string) =>
    new ValidationError('mountPoint', 'the mount point of a volume, not the root filesystem', received);

  let real: string;
  try {
    real = await realpath(mountPoint);
  } catch {
    throw refuse(`${JSON.stringify(mountPoint)}, which does not exist`);
  }
  if (real === '/') throw refuse(JSON.stringify(mountPoint));
  if ((await stat(real)).dev === (await stat('/')).dev) {
    throw refuse(`${JSON.stringify(mountPoint)}, which is on the root filesystem`);
  }
  if (!(await isMountPoint(real))) throw refuse(`${JSON.stringify(mountPoint)}, which is not a mount point`);
  return real;
}

function firstLine(child: ChildProcess, ended: Promise<number | null>): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      output += chunk;
      const newline = output.indexOf('\n');
      if (newline >= 0) resolve(output.slice(0, newline));
    });
    child.once('error', reject);
    void ended.then(() => resolve(output.split('\n')[0] ?? ''));
  });
}

function parseFailureReport(report: string): { exitCode?: number; reason?: string } {
  try {
    return JSON.parse(report.replace(/^failed /, '')) as { exitCode?: number; reason?: string };
  } catch {
    return { reason: report };
  }
}

async function startFrozenWatchdog(
  mountPoint: string,
  maximumFrozenMilliseconds: number,
  xfsFreeze: string,
): Promise<RunningWatchdog> {
  const script = thawWatchdogScript();
  const args = [script, mountPoint, String(process.pid), String(maximumFrozenMilliseconds), xfsFreeze];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const ended = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));

  const report = await firstLine(child, ended);
  if (report !== 'frozen') {
    await ended;
    const failure = parseFailureReport(report);
    const reason = failure.reason || stderr.trim() || 'the thaw watchdog ended without a report';
    throw new CommandFailedError({
      command: xfsFreeze,
      args: ['-f', mountPoint],
      exitCode: failure.exitCode,
      stderr: reason,
    });
  }

  // From here on the watchdog must outlive this process, and must not keep it alive either.
  child.stdout?.destroy();
  child.stderr?.destroy();
  child.unref();
  return { child, ended };
}

function settledWithin<T>(promise: Promise<T>, milliseconds: number): Promise<T | 'timeout'> {
  const timeout = new Promise<'timeout'>((resolve) =>
    setTimeout(() => resolve('timeout'), milliseconds).unref(),
  );
  return Promise.race([promise, timeout]);
}

/**
 * Ends the watchdog and resolves with its exit code (null when killed). Given a grace time, it
 * first lets a watchdog that is finishing its own thaw exit by itself, to learn why it thawed.
 */
async function stopWatchdog(watchdog: RunningWatchdog, graceMilliseconds = 0): Promise<number | null> {
  const { child } = watchdog;
  if (graceMilliseconds > 0) {
    const ending = await settledWithin(watchdog.ended, graceMilliseconds);
    if (ending !== 'timeout') return ending;
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  const ending = await settledWithin(watchdog.ended, watchdogStopWaitMilliseconds);
  return ending === 'timeout' ? null : ending;
}

function isNotFrozenFailure(error: unknown): boolean {
  return error instanceof CommandFailedError && /Invalid argument/i.test(error.message);
}

function describeEarlyThaw(exitCode: number | null, maximumFrozenMilliseconds: number): string {
  if (exitCode === thawWatchdogExitCodes.thawedAtDeadline) {
    return `the watchdog thawed it after the ${maximumFrozenMilliseconds} ms the freeze was allowed`;
  }
  return 'something other than dbplane thawed it';
}

/**
 * Freezes the XFS filesystem mounted at mountPoint, with a watchdog that thaws it after
 * maximumFrozenMilliseconds or when this process dies. Refuses the root filesystem and any path
 * that is not a mount point.
 */
export async function freezeFilesystem(
  mountPoint: string,
  options: FreezeOptions,
): Promise<FrozenFilesystem> {
  const { maximumFrozenMilliseconds, logger } = options;
  if (
    !Number.isInteger(maximumFrozenMilliseconds) ||
    maximumFrozenMilliseconds <= 0 ||
    maximumFrozenMilliseconds > maximumAllowedFrozenMilliseconds
  ) {
    throw new ValidationError(
      'maximumFrozenMilliseconds',
      `a whole number of milliseconds from 1 to ${maximumAllowedFrozenMilliseconds}`,
      String(maximumFrozenMilliseconds),
    );
  }
  const real = await checkFreezable(mountPoint);
  const xfsFreeze = resolveHostTool('xfs_freeze');

  const started = Date.now();
  const watchdog = await startFrozenWatchdog(real, maximumFrozenMilliseconds, xfsFreeze);
  const frozenAt = Date.now();
  logger.info('filesystem frozen', {
    mountPoint: real,
    watchdogPid: watchdog.child.pid,
    maximumFrozenMilliseconds,
    freezeMilliseconds: frozenAt - started,
  });

  const thawOnce = async (): Promise<void> => {
    try {
      await runCommand(xfsFreeze, ['-u', real]);
    } catch (error) {
      // Any other failure leaves the filesystem frozen: keep the watchdog, which thaws it at the deadline.
      if (!isNotFrozenFailure(error)) throw error;
      const exitCode = await stopWatchdog(watchdog, watchdogFinishWaitMilliseconds);
      const cause = describeEarlyThaw(exitCode, maximumFrozenMilliseconds);
      const explanation =
        `${real} was thawed before dbplane thawed it: ${cause}; ` +
        'a copy made while it was meant to be frozen may be inconsistent';
      logger.warn('filesystem thawed early', { mountPoint: real, watchdogExitCode: exitCode });
      throw new FreezeWindowExceededError(
        {
          command: xfsFreeze,
          args: ['-u', real],
          exitCode: (error as CommandFailedError).exitCode,
          stderr: '',
        },
        explanation,
      );
    }

    await stopWatchdog(watchdog);
    logger.info('filesystem thawed', { mountPoint: real, frozenMilliseconds: Date.now() - frozenAt });
  };

  let thawing: Promise<void> | undefined;
  return {
    mountPoint: real,
    thaw: () => {
      thawing ??= thawOnce().catch((error: unknown) => {
        // Only a decided outcome is kept; a failed thaw may be tried again.
        if (!(error instanceof FreezeWindowExceededError)) thawing = undefined;
        throw error;
      });
      return thawing;
    },
  };
}

/**
 * Thaws the filesystem at mountPoint if it is frozen, for start-up reconciliation after a crash.
 * Resolves true when it was frozen, false when it was not or nothing is mounted there.
 */
export async function thawIfFrozen(mountPoint: string): Promise<boolean> {
  const real = await realpath(mountPoint).catch(() => undefined);
  if (real === undefined || real === '/' || !(await isMountPoint(real))) return false;

  try {
    await runCommand(resolveHostTool('xfs_freeze'), ['-u', real]);
    return true;
  } catch (error) {
    if (isNotFrozenFailure(error)) return false;
    throw error;
  }
}
