/**
 * The command lines of restic, built and checked without running anything: the flags every call
 * starts with, and the arguments of each command the driver runs.
 */
import path from 'node:path';

import { ValidationError } from '../../lib/errors.js';
import type { BackupRequest, ResticRepository } from './restic.js';
import type { ResticCapabilities } from './restic-version.js';

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

/** How long every restic call waits for another process's conflicting lock (restic 0.16+). */
export const lockWait = '2m';

const snapshotIdPattern = /^[0-9a-f]{8,64}$/;
const subsetPattern = /^\d{1,3}(\.\d+)?%$/;

/** The cache directory restic uses under a host's data root. */
export function resticCacheDirectory(dataRoot: string): string {
  return path.join(dataRoot, 'cache', 'restic');
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
