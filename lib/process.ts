/**
 * Runs subprocesses with argument arrays, in their own process group, so that cancelling an
 * operation stops the tool and everything it started.
 */
import { execa, type ResultPromise } from 'execa';

import { CommandFailedError, DiskFullError, type CommandFailure } from './errors.js';

export interface RunOptions {
  /** Aborting this signal kills the whole process group of the command. */
  signal?: AbortSignal;
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  /** Called with every line the command writes to stdout, as it writes it. */
  onStdoutLine?: (line: string) => void;
  timeoutMilliseconds?: number;
  /** Values redacted from error messages. */
  secrets?: readonly string[];
  /** Picks a more specific error class from the failure, e.g. a locked repository. */
  classifyFailure?: (failure: CommandFailure) => CommandFailedError | undefined;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  milliseconds: number;
}

const killGraceMilliseconds = 5_000;

function killGroup(child: ResultPromise, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;

  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

function defaultClassification(failure: CommandFailure): CommandFailedError | undefined {
  if (/no space left on device|ENOSPC/i.test(failure.stderr)) return new DiskFullError(failure);
  return undefined;
}

/** Runs file with args and resolves with its output, or rejects with a CommandFailedError. */
export async function runCommand(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const started = Date.now();
  const child = execa(file, args, {
    detached: true,
    reject: false,
    stripFinalNewline: false,
    env: options.env,
    extendEnv: true,
    cwd: options.cwd,
    input: options.input,
    stdin: options.input === undefined ? 'ignore' : 'pipe',
    buffer: { stdout: options.onStdoutLine === undefined, stderr: true },
  });

  let cancelled = false;
  let timedOut = false;
  let escalation: NodeJS.Timeout | undefined;
  const stop = () => {
    killGroup(child, 'SIGTERM');
    escalation = setTimeout(() => killGroup(child, 'SIGKILL'), killGraceMilliseconds);
    escalation.unref();
  };
  const onAbort = () => {
    cancelled = true;
    stop();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const timer = options.timeoutMilliseconds
    ? setTimeout(() => {
        timedOut = true;
        stop();
      }, options.timeoutMilliseconds)
    : undefined;

  const stdoutLines: string[] = [];
  if (options.onStdoutLine && child.stdout) {
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        stdoutLines.push(line);
        options.onStdoutLine?.(line);
      }
    });
    child.stdout.on('end', () => {
      if (pending) {
        stdoutLines.push(pending);
        options.onStdoutLine?.(pending);
      }
    });
  }

  const result = await child;
  options.signal?.removeEventListener('abort', onAbort);
  if (timer) clearTimeout(timer);
  if (escalation) clearTimeout(escalation);
  const stdout = options.onStdoutLine ? stdoutLines.join('\n') : String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');

  if (result.exitCode === 0 && !cancelled && !timedOut) {
    return { stdout, stderr, milliseconds: Date.now() - started };
  }

  const failure: CommandFailure = {
    command: file,
    args,
    exitCode: result.exitCode,
    signal: result.signal,
    stderr: stderr || (result.failed && !result.exitCode ? String(result.message ?? '') : ''),
    cancelled,
    timedOut,
    secrets: options.secrets,
    cause: result.cause,
  };
  throw (
    options.classifyFailure?.(failure) ?? defaultClassification(failure) ?? new CommandFailedError(failure)
  );
}

/** True while a process with this pid exists, including one this user may not signal. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
