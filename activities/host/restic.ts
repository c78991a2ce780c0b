/**
 * The restic driver: every restic command dbplane runs. Each call names its repository, password file
 * and cache explicitly, so nothing depends on RESTIC_* variables of the calling process. Works with
 * restic 0.18 (what the bootstrap installs) and with Debian's 0.14.
 *
 * Layout of a backup: restic runs in the directory's parent and is given the directory's name, so a
 * restore puts the directory at <target>/<name> whatever its absolute path was at backup time. The
 * snapshot's `paths` still hold the absolute path; restic finds the parent snapshot by it.
 */
import { access, constants, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import { CommandFailedError, ValidationError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { runCommand, type RunResult } from '../../lib/process.js';
import {
  buildBackupArguments,
  buildCheckArguments,
  buildForgetArguments,
  buildGlobalArguments,
  buildRestoreArguments,
  buildSnapshotsArguments,
  type CheckOptions,
  type SnapshotFilter,
} from './restic-arguments.js';
import { classifyResticFailure, RepositoryMissingError } from './restic-errors.js';
import {
  parseBackupLine,
  parseRestoreLine,
  parseSnapshots,
  type BackupEvent,
  type Snapshot,
} from './restic-output.js';
import { detectRestic } from './restic-version.js';

/** Where one restic repository is and how to open it; every driver function takes one. */
export interface ResticRepository {
  /** The repository's directory. */
  repository: string;
  /** A file whose first line is the repository password; the password never reaches argv or env. */
  passwordFile: string;
  /** restic's cache of repository metadata; by convention resticCacheDirectory(dataRoot). */
  cacheDirectory: string;
  logger: Logger;
  /** Aborting it kills the running restic and everything it started. */
  signal?: AbortSignal;
  /** The restic binary; toolPath('restic') when absent. */
  binary?: string;
}

/** Progress of a long command, as a percentage (0-100) and bytes. */
export type ProgressListener = (percent: number, bytesDone: number, bytesTotal: number) => void;

/** What backup() stores: one directory, labelled with tags and a host. */
export interface BackupRequest {
  /** Absolute path of the directory to back up. */
  directory: string;
  tags: readonly string[];
  /** Recorded as the snapshot's hostname. */
  host: string;
  onProgress?: ProgressListener;
  /** Least time between two onProgress calls; 1 s when absent. */
  progressIntervalMilliseconds?: number;
}

/** What a backup stored, from restic's summary line. */
export interface BackupResult {
  /** The full 64-hex-digit snapshot id. */
  snapshotId: string;
  /** Bytes the repository grew by (after compression where restic reports it). */
  bytesAdded: number;
  totalBytes: number;
  filesNew: number;
  totalFiles: number;
  seconds: number;
}

/** Which snapshot restore() writes out, and where. */
export interface RestoreRequest {
  snapshotId: string;
  /** The directory to restore into; created when missing. */
  target: string;
  /** Called with restore progress; restic 0.14 reports none. */
  onProgress?: ProgressListener;
  progressIntervalMilliseconds?: number;
}

const defaultProgressIntervalMilliseconds = 1_000;

// Inherited RESTIC_* variables would override or conflict with the flags we pass.
const resticEnvironment: Record<string, string | undefined> = {
  RESTIC_PASSWORD: undefined,
  RESTIC_PASSWORD_COMMAND: undefined,
  RESTIC_PASSWORD_FILE: undefined,
  RESTIC_REPOSITORY: undefined,
  RESTIC_REPOSITORY_FILE: undefined,
};

function throttle(listener: ProgressListener | undefined, intervalMilliseconds: number) {
  let last = Number.NEGATIVE_INFINITY;
  return (percent: number, bytesDone: number, bytesTotal: number, force = false) => {
    if (!listener) return;
    const now = Date.now();
    if (!force && now - last < intervalMilliseconds) return;
    last = now;
    listener(Math.min(100, Math.max(0, percent)), bytesDone, bytesTotal);
  };
}

interface ResticCallOptions {
  cwd?: string;
  onStdoutLine?: (line: string) => void;
}

async function runRestic(
  repository: ResticRepository,
  args: readonly string[],
  options: ResticCallOptions = {},
): Promise<RunResult> {
  const tool = await detectRestic(repository);
  try {
    await access(repository.passwordFile, constants.R_OK);
  } catch {
    throw new ValidationError(
      'passwordFile',
      'a readable file holding the repository password',
      JSON.stringify(repository.passwordFile),
    );
  }

  const fullArguments = [...buildGlobalArguments(repository, tool.capabilities), ...args];
  repository.logger.debug('running restic', { args: fullArguments, cwd: options.cwd });
  return runCommand(tool.binary, fullArguments, {
    signal: repository.signal,
    cwd: options.cwd,
    env: resticEnvironment,
    onStdoutLine: options.onStdoutLine,
    classifyFailure: classifyResticFailure,
  });
}

async function repositoryExists(repository: ResticRepository): Promise<boolean> {
  try {
    await runRestic(repository, ['cat', 'config']);
    return true;
  } catch (error) {
    if (error instanceof RepositoryMissingError) return false;
    throw error;
  }
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}

/**
 * Makes sure the repository exists: opens it, and initialises it only when there is none. Idempotent.
 * A wrong password rejects with RepositoryPasswordError; it never leads to a second init.
 */
export async function ensureRepository(
  repository: ResticRepository,
  options: { verifyPassword?: boolean } = {},
): Promise<'created' | 'existing'> {
  // restic writes a repository's config after its key: where the file is, the repository is whole. Callers
  // that run restic next anyway skip the check of the password, which that run makes too.
  const config = localRepositoryPath(repository, 'config');
  if (options.verifyPassword === false && config !== undefined && (await isFile(config))) return 'existing';
  if (await repositoryExists(repository)) return 'existing';

  await mkdir(path.dirname(path.resolve(repository.repository)), { recursive: true });
  try {
    await runRestic(repository, ['init']);
  } catch (error) {
    // Someone else initialised it between our look and our init.
    const raced = error instanceof CommandFailedError && /config file already exists/i.test(error.message);
    if (raced && (await repositoryExists(repository))) return 'existing';
    throw error;
  }

  repository.logger.info('created restic repository', { repository: repository.repository });
  return 'created';
}

/**
 * Backs up one directory as one snapshot with the given tags and host, reporting progress as it goes.
 * A file restic cannot read fails the backup (restic exits 3, though it writes the snapshot).
 * A cancelled restic 0.14 leaves its lock behind: call unlockStale after a cancel.
 */
export async function backup(repository: ResticRepository, request: BackupRequest): Promise<BackupResult> {
  const { cwd, args } = buildBackupArguments(request);
  try {
    if (!(await stat(request.directory)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new ValidationError('directory', 'an existing directory', JSON.stringify(request.directory));
  }

  const report = throttle(
    request.onProgress,
    request.progressIntervalMilliseconds ?? defaultProgressIntervalMilliseconds,
  );
  const seen: { summary?: Extract<BackupEvent, { type: 'summary' }> } = {};
  const onStdoutLine = (line: string) => {
    const event = parseBackupLine(line);
    if (event?.type === 'status') report(event.percent, event.bytesDone, event.bytesTotal);
    if (event?.type === 'summary') seen.summary = event;
    if (event?.type === 'error') {
      repository.logger.warn('restic could not back up an item', { item: event.item, error: event.message });
    }
  };
  const { milliseconds } = await runRestic(repository, args, { cwd, onStdoutLine });

  const summary = seen.summary;
  if (!summary) {
    throw new Error(`restic backup of ${request.directory} succeeded but printed no summary line`);
  }
  report(100, summary.totalBytes, summary.totalBytes, true);

  const result: BackupResult = {
    snapshotId: await fullSnapshotId(repository, summary.snapshotId),
    bytesAdded: summary.bytesAdded,
    totalBytes: summary.totalBytes,
    filesNew: summary.filesNew,
    totalFiles: summary.totalFiles,
    seconds: summary.seconds ?? milliseconds / 1000,
  };
  repository.logger.info('restic backup finished', { directory: request.directory, ...result });
  return result;
}

// restic 0.14's backup summary carries the short id only.
async function fullSnapshotId(repository: ResticRepository, id: string): Promise<string> {
  if (id.length === 64) return id;

  const [snapshot] = await listSnapshots(repository, { ids: [id] });
  if (!snapshot) throw new Error(`restic backup reported snapshot ${id}, which the repository does not list`);
  return snapshot.id;
}

/** The repository's snapshots that match the filter, oldest first. */
export async function listSnapshots(
  repository: ResticRepository,
  filter: SnapshotFilter = {},
): Promise<Snapshot[]> {
  const { stdout } = await runRestic(repository, buildSnapshotsArguments(filter));
  return parseSnapshots(stdout);
}

/** Removes the given snapshots from the repository's index; their data stays until prune. */
export async function forget(repository: ResticRepository, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;

  const { stderr } = await runRestic(repository, buildForgetArguments(ids));
  if (/no matching ID found/i.test(stderr)) {
    repository.logger.warn('restic forget ignored unknown snapshot ids', { ids, stderr: stderr.trim() });
  }
  repository.logger.info('forgot restic snapshots', { count: ids.length, ids });
}

/** Deletes the data no snapshot refers to any more. Takes an exclusive lock. */
export async function prune(repository: ResticRepository): Promise<{ seconds: number }> {
  const { milliseconds } = await runRestic(repository, ['prune']);
  repository.logger.info('pruned restic repository', { seconds: milliseconds / 1000 });
  return { seconds: milliseconds / 1000 };
}

/** Verifies the repository's structure and reads back a subset of its data. Rejects on any error. */
export async function check(
  repository: ResticRepository,
  options: CheckOptions,
): Promise<{ seconds: number }> {
  const { milliseconds } = await runRestic(repository, buildCheckArguments(options));
  repository.logger.info('checked restic repository', {
    readDataSubset: options.readDataSubset,
    seconds: milliseconds / 1000,
  });
  return { seconds: milliseconds / 1000 };
}

async function isDirectory(candidate: string): Promise<boolean> {
  try {
    return (await stat(candidate)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Restores a whole snapshot into target and returns where the backed-up directory landed:
 * <target>/<name of the backed-up directory>. Existing files in target are overwritten; restore
 * into an empty directory for a faithful copy.
 */
export async function restore(repository: ResticRepository, request: RestoreRequest): Promise<string> {
  const args = buildRestoreArguments(request.snapshotId, request.target);
  const [snapshot] = await listSnapshots(repository, { ids: [request.snapshotId] });
  if (!snapshot) {
    throw new ValidationError(
      'snapshotId',
      `a snapshot in ${repository.repository}`,
      JSON.stringify(request.snapshotId),
    );
  }
  const [backedUp] = snapshot.paths;
  if (backedUp === undefined || snapshot.paths.length !== 1) {
    throw new ValidationError('snapshotId', 'a snapshot of one directory', snapshot.paths.join(', '));
  }

  await mkdir(request.target, { recursive: true });
  const report = throttle(
    request.onProgress,
    request.progressIntervalMilliseconds ?? defaultProgressIntervalMilliseconds,
  );
  const onStdoutLine = (line: string) => {
    const progress = parseRestoreLine(line);
    if (progress) report(progress.percent, progress.bytesDone, progress.bytesTotal, progress.final);
  };
  const { milliseconds } = await runRestic(repository, args, { onStdoutLine });

  // Our backups land at <target>/<name>; a snapshot taken with an absolute path lands below it in full.
  const byName = path.join(request.target, path.basename(backedUp));
  const directory = (await isDirectory(byName)) ? byName : path.join(request.target, backedUp);
  repository.logger.info('restored restic snapshot', {
    snapshotId: snapshot.id,
    directory,
    seconds: milliseconds / 1000,
  });
  return directory;
}

/** Removes locks left by restic processes that no longer run; locks of live processes stay. */
export async function unlockStale(repository: ResticRepository): Promise<void> {
  // Every restic start derives the repository key (about half a second); an empty local locks folder
  // has nothing to unlock, so the start is skipped.
  const locks = localRepositoryPath(repository, 'locks');
  if (locks !== undefined) {
    const entries = await readdir(locks).catch(() => undefined);
    if (entries !== undefined && entries.length === 0) return;
  }
  await runRestic(repository, ['unlock']);
}

/** A path inside a repository on the local filesystem; undefined for a remote one (s3:, sftp:, rest:). */
function localRepositoryPath(repository: ResticRepository, ...segments: string[]): string | undefined {
  if (/^[a-z0-9]+:/i.test(repository.repository)) return undefined;
  return path.join(path.resolve(repository.repository), ...segments);
}
