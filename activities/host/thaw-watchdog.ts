/**
 * The thaw watchdog: a detached process that freezes one filesystem on behalf of a requester and
 * thaws it again as soon as the requester dies or keeps it frozen past its deadline. The
 * requester thaws it itself in the normal case and then kills the watchdog.
 *
 * It uses node built-ins only, so that node runs the compiled file directly:
 *   node thaw-watchdog.js <mount point> <requester pid> <maximum frozen milliseconds> <xfs_freeze path>
 * It prints one line, "frozen" once the freeze holds or "failed <JSON of exitCode and reason>",
 * and then nothing more.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** How the watchdog ended, when it was not killed by its requester. */
export const thawWatchdogExitCodes = {
  thawedAtDeadline: 10,
  thawedAfterRequesterDied: 11,
  thawFailed: 12,
  freezeFailed: 13,
  usage: 64,
} as const;

const pollMilliseconds = 100;

interface ProcessStatus {
  state: string;
  startTime: string;
}

function processStatus(pid: number): ProcessStatus | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may hold spaces: the fields start after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * Whether the requester still lives: its pid exists, is not a zombie awaiting its parent, and
 * was not reused by a newer process (the start time would differ).
 */
function requesterAlive(pid: number, startTime: string | undefined): boolean {
  const status = processStatus(pid);
  if (status) return status.state !== 'Z' && (startTime === undefined || status.startTime === startTime);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface ToolFailure {
  exitCode: number | undefined;
  reason: string;
}

// The watchdog is a standalone script without lib/process.ts, so it calls spawnSync itself.
function runFreezeTool(xfsFreeze: string, flag: '-f' | '-u', mountPoint: string): ToolFailure | undefined {
  const result = spawnSync(xfsFreeze, [flag, mountPoint], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (result.error) return { exitCode: undefined, reason: result.error.message };
  if (result.status === 0) return undefined;
  return {
    exitCode: result.status ?? undefined,
    reason: result.stderr.trim() || `killed by ${result.signal}`,
  };
}

function watch(
  mountPoint: string,
  requesterPid: number,
  requesterStartTime: string | undefined,
  deadline: number,
  xfsFreeze: string,
): void {
  const timer = setInterval(() => {
    const requesterDied = !requesterAlive(requesterPid, requesterStartTime);
    if (!requesterDied && Date.now() < deadline) return;

    clearInterval(timer);
    const failure = runFreezeTool(xfsFreeze, '-u', mountPoint);
    if (failure) process.exitCode = thawWatchdogExitCodes.thawFailed;
    else if (requesterDied) process.exitCode = thawWatchdogExitCodes.thawedAfterRequesterDied;
    else process.exitCode = thawWatchdogExitCodes.thawedAtDeadline;
  }, pollMilliseconds);
}

/** Freezes, reports, then watches; exported for reading, started only when run as a script. */
export function runThawWatchdog(argumentsGiven: readonly string[]): void {
  // A requester that died before reading the report leaves a broken pipe; the watchdog must live on.
  process.stdout.on('error', () => undefined);
  const [mountPoint, pidText, maximumText, xfsFreeze] = argumentsGiven;
  const requesterPid = Number(pidText);
  const maximumFrozenMilliseconds = Number(maximumText);
  if (
    !mountPoint?.startsWith('/') ||
    !xfsFreeze ||
    !Number.isInteger(requesterPid) ||
    requesterPid <= 0 ||
    !Number.isInteger(maximumFrozenMilliseconds) ||
    maximumFrozenMilliseconds <= 0
  ) {
    const usage = 'thaw-watchdog.js <mount point> <pid> <milliseconds> <xfs_freeze>';
    const reason = `usage: ${usage}, got ${argumentsGiven.join(' ')}`;
    process.stdout.write(`failed ${JSON.stringify({ reason })}\n`);
    process.exitCode = thawWatchdogExitCodes.usage;
    return;
  }

  const requesterStartTime = processStatus(requesterPid)?.startTime;

  // Freezing here rather than in the requester leaves no moment when the filesystem is frozen
  // without a watchdog, even if the requester dies while xfs_freeze -f flushes.
  const failure = runFreezeTool(xfsFreeze, '-f', mountPoint);
  if (failure) {
    process.stdout.write(`failed ${JSON.stringify(failure)}\n`);
    process.exitCode = thawWatchdogExitCodes.freezeFailed;
    return;
  }

  const deadline = Date.now() + maximumFrozenMilliseconds;
  process.stdout.write('frozen\n');
  watch(mountPoint, requesterPid, requesterStartTime, deadline, xfsFreeze);
}

function isMainScript(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMainScript()) runThawWatchdog(process.argv.slice(2));
