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
import { toolPath } from '../../lib/tools.js';
import { classifyResticFailure, RepositoryMissingError } from './restic-errors.js';

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

/** A restic release, read from `restic version`. */
export interface ResticVersion {
  major: number;
  minor: number;
  patch: number;
  /** The first line of `restic version`. */
  text: string;
}

/** Flags that only some restic versions understand. */
export interface ResticCapabilities {
  /** `--retry-lock` (0.16+): wait for a conflicting lock instead of failing at once. */
  retryLock: boolean;
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

/** One snapshot as `restic snapshots --json` lists it. */
export interface Snapshot {
  id: string;
  shortId: string;
  /** ISO 8601, as restic wrote it (nanoseconds, the backing-up host's offset). */
  time: string;
  tags: string[];
  hostname: string;
  paths: string[];
}

/** Which snapshots listSnapshots() returns; an empty filter returns all. */
export interface SnapshotFilter {
  /** Only snapshots that carry every one of these tags. */
  tags?: readonly string[];
  host?: string;
  /** Only these snapshots (full or short ids). */
  ids?: readonly string[];
}

/** How thorough check() is. */
export interface CheckOptions {
  /** How much of the data packs to read back and verify, such as "10%". */
  readDataSubset: string;
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

/** A line of `restic backup --json` that the driver acts on. */
export type BackupEvent =
  | { type: 'status'; percent: number; bytesDone: number; bytesTotal: number }
  | ({ type: 'summary' } & Omit<BackupResult, 'seconds'> & { seconds: number | undefined })
  | { type: 'error'; item: string; message: string };

/** How long every restic call waits for another process's conflicting lock (restic 0.16+). */
export const lockWait = '2m';

const defaultProgressIntervalMilliseconds = 1_000;
const snapshotIdPattern = /^[0-9a-f]{8,64}$/;
const subsetPattern = /^\d{1,3}(\.\d+)?%$/;

// Inherited RESTIC_* variables would override or conflict with the flags we pass.
const resticEnvironment: Record<string, string | undefined> = {
  RESTIC_PASSWORD: undefined,
  RESTIC_PASSWORD_COMMAND: undefined,
  RESTIC_PASSWORD_FILE: undefined,
  RESTIC_REPOSITORY: undefined,
  RESTIC_REPOSITORY_FILE: undefined,
};

/** The cache directory restic uses under a host's data root. */
export function resticCacheDirectory(dataRoot: string): string {
  return path.join(dataRoot, 'cache', 'restic');
}

/** Reads the version out of `restic version` output. */
export function parseResticVersion(output: string): ResticVersion {
  const text = output.trim().split('\n')[0] ?? '';
  const match = /^restic (\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!match) throw new ValidationError('restic version', 'a line "restic X.Y.Z ..."', JSON.stringify(text));
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), text };
}

/** The optional flags a restic version supports. */
export function resticCapabilities(version: ResticVersion): ResticCapabilities {
  const atLeast = (major: number, minor: number) =>
    version.major > major || (version.major === major && version.minor >= minor);
  return { retryLock: atLeast(0, 16) };
}

/** Flags every restic call starts with: repository, password file, cache, lock wait. */
export function buildGlobalArguments(
  repository: Pick<ResticRepository, 'repository' | 'passwordFile' | 'cacheDirectory'>,
  capabilities: ResticCapabilities,
): string[] {
  return [
    '--repo',
    path.resolve(repository.repository),
    '--password-file',
    path.resolve(repository.passwordFile),
    '--cache-dir',
    path.resolve(repository.cacheDirectory),
    ...(capabilities.retryLock ? ['--retry-lock', lockWait] : []),
  ];
}

function checkTag(field: string, tag: string): void {
  if (tag.length === 0 || /[,\s]/.test(tag)) {
    throw new ValidationError(field, 'a non-empty tag without commas or white space', JSON.stringify(tag));
  }
}

function checkSnapshotId(field: string, id: string): void {
  if (!snapshotIdPattern.test(id)) {
    throw new ValidationError(field, 'a restic snapshot id (8 to 64 hex digits)', JSON.stringify(id));
  }
}

/** The working directory and arguments (after the global flags) of `restic backup`. */
export function buildBackupArguments(request: Pick<BackupRequest, 'directory' | 'tags' | 'host'>): {
  cwd: string;
  args: string[];
} {
  if (!path.isAbsolute(request.directory) || path.basename(request.directory) === '') {
    throw new ValidationError('directory', 'an absolute path below /', JSON.stringify(request.directory));
  }
  if (request.host.length === 0 || /\s/.test(request.host)) {
    throw new ValidationError(
      'host',
      'a non-empty host name without white space',
      JSON.stringify(request.host),
    );
  }
  request.tags.forEach((tag, index) => checkTag(`tags[${index}]`, tag));

  const directory = path.resolve(request.directory);
  const tagArguments = request.tags.flatMap((tag) => ['--tag', tag]);
  return {
    cwd: path.dirname(directory),
    args: ['backup', '--json', '--host', request.host, ...tagArguments, '--', path.basename(directory)],
  };
}

/** Arguments of `restic snapshots --json` for a filter. */
export function buildSnapshotsArguments(filter: SnapshotFilter = {}): string[] {
  const tags = filter.tags ?? [];
  tags.forEach((tag, index) => checkTag(`tags[${index}]`, tag));
  const ids = filter.ids ?? [];
  ids.forEach((id, index) => checkSnapshotId(`ids[${index}]`, id));

  return [
    'snapshots',
    '--json',
    ...(tags.length > 0 ? ['--tag', tags.join(',')] : []),
    ...(filter.host ? ['--host', filter.host] : []),
    ...ids,
  ];
}

/** Arguments of `restic forget` for explicit snapshot ids (no policy, no prune). */
export function buildForgetArguments(ids: readonly string[]): string[] {
  ids.forEach((id, index) => checkSnapshotId(`ids[${index}]`, id));
  return ['forget', ...ids];
}

/** Arguments of `restic check` that also read back a subset of the data. */
export function buildCheckArguments(options: CheckOptions): string[] {
  const percent = Number.parseFloat(options.readDataSubset);
  if (!subsetPattern.test(options.readDataSubset) || !(percent > 0 && percent <= 100)) {
    throw new ValidationError(
      'readDataSubset',
      'a percentage above 0% and at most 100%, such as 10%',
      JSON.stringify(options.readDataSubset),
    );
  }
  return ['check', `--read-data-subset=${options.readDataSubset}`];
}

/** Arguments of `restic restore` of a whole snapshot into target. */
export function buildRestoreArguments(snapshotId: string, target: string): string[] {
  checkSnapshotId('snapshotId', snapshotId);
  return ['restore', '--json', '--target', path.resolve(target), snapshotId];
}

function parseJsonObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const numberOf = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) ? value : 0;

/** Reads one stdout line of `restic backup --json`; undefined for lines the driver ignores. */
export function parseBackupLine(line: string): BackupEvent | undefined {
  const record = parseJsonObject(line.trim());
  if (!record) return undefined;

  if (record.message_type === 'status') {
    return {
      type: 'status',
      percent: numberOf(record.percent_done) * 100,
      bytesDone: numberOf(record.bytes_done),
      bytesTotal: numberOf(record.total_bytes),
    };
  }
  if (record.message_type === 'summary' && typeof record.snapshot_id === 'string') {
    return {
      type: 'summary',
      snapshotId: record.snapshot_id,
      // data_added_packed (0.17+) is what the repository grew by after compression.
      bytesAdded: numberOf(record.data_added_packed ?? record.data_added),
      totalBytes: numberOf(record.total_bytes_processed),
      filesNew: numberOf(record.files_new),
      totalFiles: numberOf(record.total_files_processed),
      seconds: typeof record.total_duration === 'number' ? record.total_duration : undefined,
    };
  }
  if (record.message_type === 'error') {
    const error = record.error as { message?: unknown } | undefined;
    return {
      type: 'error',
      item: String(record.item ?? ''),
      message: typeof error?.message === 'string' ? error.message : JSON.stringify(record.error ?? null),
    };
  }
  return undefined;
}

/** Reads the output of `restic snapshots --json`. */
export function parseSnapshots(stdout: string): Snapshot[] {
  const value: unknown = JSON.parse(stdout.trim() || '[]');
  if (value === null) return [];
  if (!Array.isArray(value)) {
    throw new Error(`restic snapshots --json printed ${stdout.slice(0, 80)} instead of a JSON array`);
  }
  return value.map((entry: Record<string, unknown>) => ({
    id: String(entry.id),
    shortId: String(entry.short_id ?? String(entry.id).slice(0, 8)),
    time: String(entry.time),
    tags: Array.isArray(entry.tags) ? entry.tags.map(String) : [],
    hostname: String(entry.hostname ?? ''),
    paths: Array.isArray(entry.paths) ? entry.paths.map(String) : [],
  }));
}

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

/** A restic binary with what it can do. */
export interface ResticTool {
  binary: string;
  version: ResticVersion;
  capabilities: ResticCapabilities;
}

const detectedTools = new Map<string, Promise<ResticTool>>();

async function detect(binary: string, logger: Logger): Promise<ResticTool> {
  const { stdout } = await runCommand(binary, ['version']);
  const version = parseResticVersion(stdout);
  logger.info('restic version', { binary, version: version.text });
  return { binary, version, capabilities: resticCapabilities(version) };
}

/** The restic binary a repository is used with, its version and capabilities (read once a process). */
export function detectRestic(repository: Pick<ResticRepository, 'binary' | 'logger'>): Promise<ResticTool> {
  const binary = repository.binary ?? toolPath('restic');
  let detection = detectedTools.get(binary);
  if (!detection) {
    detection = detect(binary, repository.logger);
    detectedTools.set(binary, detection);
    detection.catch(() => detectedTools.delete(binary));
  }
  return detection;
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
    const record = parseJsonObject(line.trim());
    if (record?.message_type !== 'status' && record?.message_type !== 'summary') return;
    const total = numberOf(record.total_bytes);
    const done = numberOf(record.bytes_restored);
    const percent = record.message_type === 'summary' ? 100 : numberOf(record.percent_done) * 100;
    report(percent, done, total, record.message_type === 'summary');
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

/** A path inside a repository on the local filesystem; undefined for remote repositories (s3:, sftp:, rest:). */
function localRepositoryPath(repository: ResticRepository, ...segments: string[]): string | undefined {
  if (/^[a-z0-9]+:/i.test(repository.repository)) return undefined;
  return path.join(path.resolve(repository.repository), ...segments);
}
