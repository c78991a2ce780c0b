/**
 * The error kinds of dbplane. Each kind's message is built here and nowhere else, so an operator
 * reads the same shape of sentence whichever part of the system failed.
 */

/** Input that can never succeed however often it is retried: a bad spec, a bad name, a bad flag. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';

  constructor(
    readonly field: string,
    readonly expected: string,
    readonly received: string,
  ) {
    super(`${field}: expected ${expected}, received ${received}`);
  }
}

/** Several validation problems found in one document, reported together. */
export class SpecError extends Error {
  override readonly name = 'SpecError';

  constructor(
    readonly source: string,
    readonly problems: ValidationError[],
  ) {
    const lines = problems.map((problem) => `  - ${problem.message}`);
    super(`invalid platform spec ${source}:\n${lines.join('\n')}`);
  }
}

/** A module or feature that the spec may declare but this version cannot run yet. */
export class NotSupportedError extends Error {
  override readonly name = 'NotSupportedError';

  constructor(what: string, reason: string) {
    super(`${what} is not supported yet: ${reason}`);
  }
}

export interface CommandFailure {
  command: string;
  args: readonly string[];
  exitCode?: number | undefined;
  signal?: string | undefined;
  stderr: string;
  timedOut?: boolean;
  cancelled?: boolean;
  /** Values that must not appear in the message, such as a password passed on the command line. */
  secrets?: readonly string[];
  cause?: unknown;
}

const stderrTailLines = 12;

/** Replaces every secret in text with a fixed marker. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length > 0) result = result.split(secret).join('[redacted]');
  }
  return result;
}

function describeEnding(failure: CommandFailure): string {
  if (failure.cancelled) return 'was cancelled';
  if (failure.timedOut) return 'timed out';
  if (failure.signal) return `was killed by ${failure.signal}`;
  return `exited with code ${failure.exitCode ?? 'unknown'}`;
}

/** A subprocess that did not succeed: what ran, how it ended, and the end of what it said. */
export class CommandFailedError extends Error {
  override readonly name: string = 'CommandFailedError';
  readonly exitCode: number | undefined;
  readonly stderrTail: string;

  constructor(failure: CommandFailure) {
    const commandLine = redact([failure.command, ...failure.args].join(' '), failure.secrets);
    const tail = redact(
      failure.stderr.trimEnd().split('\n').slice(-stderrTailLines).join('\n'),
      failure.secrets,
    );
    const ending = describeEnding(failure);
    const message = tail ? `${commandLine} ${ending}:\n${tail}` : `${commandLine} ${ending}`;
    super(message, { cause: failure.cause });
    this.exitCode = failure.exitCode;
    this.stderrTail = tail;
  }
}

/** restic found its repository locked by another process. */
export class RepositoryLockedError extends CommandFailedError {
  override readonly name = 'RepositoryLockedError';
}

/** restic was given the wrong password for its repository. */
export class RepositoryPasswordError extends CommandFailedError {
  override readonly name = 'RepositoryPasswordError';
}

/** A filesystem that ran out of space while dbplane wrote to it. */
export class DiskFullError extends CommandFailedError {
  override readonly name = 'DiskFullError';
}

/** Prefixes an error with what was being done when it happened, keeping the original as cause. */
export function whileDoing(step: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`while ${step}: ${message}`, { cause: error });
}

/** Error types that no retry can fix; activities mark them non-retryable. */
export const nonRetryableErrorTypes = [
  'ValidationError',
  'SpecError',
  'NotSupportedError',
  'RepositoryPasswordError',
  'DiskFullError',
  'RepositoryDamagedError',
];
