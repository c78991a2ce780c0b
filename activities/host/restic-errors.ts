/**
 * The failures of restic that callers handle differently, told apart in one place from the exit code
 * and the end of stderr. restic 0.17+ has dedicated exit codes; 0.14 only has its messages.
 */
import {
  CommandFailedError,
  DiskFullError,
  RepositoryLockedError,
  RepositoryPasswordError,
  type CommandFailure,
} from '../../lib/errors.js';

/** The repository path holds no restic repository (no config file). */
export class RepositoryMissingError extends CommandFailedError {
  override readonly name = 'RepositoryMissingError';
}

/**
 * The repository's data is damaged: packs are missing or do not match their checksums. Retrying
 * reads the same damage again; an operator must repair the repository (restic repair) first.
 */
export class RepositoryDamagedError extends CommandFailedError {
  override readonly name = 'RepositoryDamagedError';
}

/** restic's exit codes since 0.17 (0.14 exits with 1 for all of these). */
export const resticExitCodes = {
  repositoryMissing: 10,
  repositoryLocked: 11,
  wrongPassword: 12,
} as const;

const diskFullPattern = /no space left on device|ENOSPC|disk quota exceeded/i;
const wrongPasswordPattern = /wrong password or no key found/i;
const lockedPattern = /repository is already locked|unable to create lock in backend/i;
const damagedPatterns = [
  /repository contains errors/i,
  /ciphertext verification failed/i,
  /pack [0-9a-f]+ (not found|does not exist)/i,
  /(hash|checksum) (does not match|mismatch)/i,
  /wrong data returned/i,
];
const missingPatterns = [
  /repository does not exist/i,
  /unable to open config file: .*no such file or directory/i,
  /Is there a repository at the following location/i,
];

// restic 0.17+ with --json writes its fatal error to stderr as {"message_type":"exit_error",...}.
function readableLine(line: string): string {
  const plain = line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  if (!plain.startsWith('{"message_type":"exit_error"')) return plain;
  try {
    const record = JSON.parse(plain) as { message?: unknown };
    return typeof record.message === 'string' ? record.message : plain;
  } catch {
    return plain;
  }
}

/** The failure with restic's JSON error lines and terminal escapes turned into plain text. */
export function readableResticFailure(failure: CommandFailure): CommandFailure {
  return { ...failure, stderr: failure.stderr.split('\n').map(readableLine).join('\n') };
}

/**
 * Picks the error class for a failed restic command; a failure with no class of its own becomes a
 * plain CommandFailedError. Pass it as `classifyFailure` to runCommand.
 */
export function classifyResticFailure(input: CommandFailure): CommandFailedError {
  const failure = readableResticFailure(input);

  // A cancelled or timed-out restic may print anything on its way out; what happened is the cancel.
  if (failure.cancelled || failure.timedOut) return new CommandFailedError(failure);

  if (failure.exitCode === resticExitCodes.wrongPassword) return new RepositoryPasswordError(failure);
  if (failure.exitCode === resticExitCodes.repositoryLocked) return new RepositoryLockedError(failure);
  if (failure.exitCode === resticExitCodes.repositoryMissing) return new RepositoryMissingError(failure);

  const stderr = failure.stderr;
  if (diskFullPattern.test(stderr)) return new DiskFullError(failure);
  if (wrongPasswordPattern.test(stderr)) return new RepositoryPasswordError(failure);
  if (lockedPattern.test(stderr)) return new RepositoryLockedError(failure);
  if (missingPatterns.some((pattern) => pattern.test(stderr))) return new RepositoryMissingError(failure);
  if (damagedPatterns.some((pattern) => pattern.test(stderr))) return new RepositoryDamagedError(failure);
  return new CommandFailedError(failure);
}
