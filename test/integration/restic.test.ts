import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  backup,
  check,
  ensureRepository,
  forget,
  listSnapshots,
  prune,
  restore,
  unlockStale,
  type ResticRepository,
} from '../../activities/host/restic.js';
import { RepositoryMissingError } from '../../activities/host/restic-errors.js';
import { CommandFailedError, RepositoryPasswordError } from '../../lib/errors.js';
import type { LogFields, Logger } from '../../lib/logger.js';
import { runCommand } from '../../lib/process.js';
import { toolPath } from '../../lib/tools.js';
import { processExists } from '../../lib/process.js';

const mebibyte = 1024 * 1024;

/** The bootstrap's restic, and Debian's 0.14 where the machine has it, so both stay supported. */
function resticBinaries(): { label: string; binary: string }[] {
  const binaries = [{ label: 'the bootstrap restic', binary: toolPath('restic') }];
  const debian = '/usr/bin/restic';
  if (existsSync(debian) && binaries[0]?.binary !== debian)
    binaries.push({ label: 'Debian restic', binary: debian });
  return binaries;
}

interface LogLine {
  level: string;
  message: string;
  fields: LogFields;
}

function recordingLogger(lines: LogLine[]): Logger {
  const write =
    (level: string) =>
    (message: string, fields: LogFields = {}) => {
      lines.push({ level, message, fields });
    };
  const logger: Logger = {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: () => logger,
  };
  return logger;
}

async function writeRandomFile(file: string, bytes: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, randomBytes(bytes));
}

/** A small directory shaped like a database: nested folders, random and compressible files, an empty one. */
async function generateSmallDirectory(directory: string): Promise<void> {
  for (let index = 0; index < 12; index++) {
    await writeRandomFile(
      path.join(directory, 'base', '16384', String(16384 + index)),
      1024 + index * 40_000,
    );
  }
  await writeFile(path.join(directory, 'PG_VERSION'), '15\n');
  await writeFile(path.join(directory, 'postgresql.auto.conf'), '');
  await mkdir(path.join(directory, 'pg_wal'), { recursive: true });
  await writeFile(path.join(directory, 'pg_wal', '000000010000000000000001'), 'row;'.repeat(512 * 1024));
}

async function hashTree(root: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  const walk = async (directory: string) => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const full = path.join(directory, entry.name);
      if (entry.isDirectory()) await walk(full);
      else
        hashes.set(
          path.relative(root, full),
          createHash('sha256')
            .update(await readFile(full))
            .digest('hex'),
        );
    }
  };
  await walk(root);
  return hashes;
}

async function directoryBytes(directory: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** The pid of the restic backup running against a repository, found by its command line. */
function findResticBackup(repositoryPath: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('restic') && argv.includes(repositoryPath) && argv.includes('backup')) {
        return Number(entry);
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return undefined;
}

describe.each(resticBinaries())('the restic driver with $label', ({ binary }) => {
  let root = '';
  let smallDirectory = '';
  let bigDirectory = '';
  let repository: ResticRepository;
  const logLines: LogLine[] = [];

  const listLocks = async (): Promise<string[]> => {
    const { stdout } = await runCommand(binary, [
      '--repo',
      repository.repository,
      '--password-file',
      repository.passwordFile,
      '--no-lock',
      'list',
      'locks',
    ]);
    return stdout.split('\n').filter((line) => /^[0-9a-f]{64}$/.test(line.trim()));
  };

  beforeAll(async () => {
    root = await mkdtemp('/tmp/dbplane-test-restic-');
    smallDirectory = path.join(root, 'source', 'pgdata');
    bigDirectory = path.join(root, 'source', 'big');
    await generateSmallDirectory(smallDirectory);
    for (let index = 0; index < 4; index++) {
      await writeRandomFile(path.join(bigDirectory, `segment.${index}`), 24 * mebibyte);
    }
    await writeFile(path.join(root, 'password'), 'correct horse battery staple\n', { mode: 0o600 });

    repository = {
      repository: path.join(root, 'repository'),
      passwordFile: path.join(root, 'password'),
      cacheDirectory: path.join(root, 'cache', 'restic'),
      logger: recordingLogger(logLines),
      binary,
    };
  });

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('creates the repository once and opens it the second time', async () => {
    expect(await ensureRepository(repository)).toBe('created');
    expect(await ensureRepository(repository)).toBe('existing');

    expect(existsSync(path.join(repository.repository, 'config'))).toBe(true);
    expect(logLines.some((line) => line.message === 'restic version' && line.fields.binary === binary)).toBe(
      true,
    );
  });

  it('backs up a directory as a snapshot with its tags and host, reporting progress', async () => {
    const progress: [number, number, number][] = [];

    const result = await backup(repository, {
      directory: smallDirectory,
      tags: ['module=test', 'dbplane'],
      host: 'test-host',
      onProgress: (percent, bytesDone, bytesTotal) => progress.push([percent, bytesDone, bytesTotal]),
    });

    expect(result.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(result.totalFiles).toBe((await hashTree(smallDirectory)).size);
    expect(result.totalBytes).toBe(await directoryBytes(smallDirectory));
    expect(result.bytesAdded).toBeGreaterThan(0);
    expect(progress.at(-1)).toEqual([100, result.totalBytes, result.totalBytes]);

    const snapshots = await listSnapshots(repository, { tags: ['module=test'] });
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]).toMatchObject({
      id: result.snapshotId,
      hostname: 'test-host',
      paths: [smallDirectory],
    });
    expect(snapshots[0]?.tags.sort()).toEqual(['dbplane', 'module=test']);
    expect(await listSnapshots(repository, { tags: ['module=other'] })).toEqual([]);
  });

  it('restores a snapshot byte for byte into <target>/<directory name>', async () => {
    const [snapshot] = await listSnapshots(repository, { tags: ['module=test'] });
    const target = path.join(root, 'restored');

    const directory = await restore(repository, { snapshotId: snapshot?.id ?? '', target });

    expect(directory).toBe(path.join(target, 'pgdata'));
    expect(await hashTree(directory)).toEqual(await hashTree(smallDirectory));
  });

  it('rejects a wrong password as RepositoryPasswordError instead of creating the repository again', async () => {
    await writeFile(path.join(root, 'wrong-password'), 'not the password\n', { mode: 0o600 });
    const wrong = { ...repository, passwordFile: path.join(root, 'wrong-password') };

    await expect(ensureRepository(wrong)).rejects.toBeInstanceOf(RepositoryPasswordError);
    await expect(listSnapshots(wrong)).rejects.toBeInstanceOf(RepositoryPasswordError);
  });

  it('reports a path without a repository as RepositoryMissingError', async () => {
    const missing = { ...repository, repository: path.join(root, 'no-repository') };

    await expect(listSnapshots(missing)).rejects.toBeInstanceOf(RepositoryMissingError);
  });

  it('removes the stale lock of a killed restic, after which a backup succeeds', async () => {
    let killed: number | undefined;

    const interrupted = backup(repository, {
      directory: bigDirectory,
      tags: ['module=test', 'killed'],
      host: 'test-host',
      progressIntervalMilliseconds: 0,
      onProgress: () => {
        if (killed !== undefined) return;
        killed = findResticBackup(repository.repository);
        // runCommand starts restic as the leader of its own process group.
        if (killed !== undefined) process.kill(-killed, 'SIGKILL');
      },
    });

    await expect(interrupted).rejects.toThrow(/killed by SIGKILL/);
    expect(killed).toBeDefined();
    expect(await listLocks()).not.toEqual([]);

    await unlockStale(repository);

    expect(await listLocks()).toEqual([]);
    await expect(
      backup(repository, { directory: smallDirectory, tags: ['module=test'], host: 'test-host' }),
    ).resolves.toMatchObject({ filesNew: 0 });
  });

  it('kills restic when the backup is cancelled, leaving no lock once stale locks are removed', async () => {
    const controller = new AbortController();
    let pid: number | undefined;

    const cancelled = backup(
      { ...repository, signal: controller.signal },
      {
        directory: bigDirectory,
        tags: ['module=test', 'cancelled'],
        host: 'test-host',
        progressIntervalMilliseconds: 0,
        onProgress: () => {
          if (pid !== undefined) return;
          pid = findResticBackup(repository.repository);
          controller.abort();
        },
      },
    );

    await expect(cancelled).rejects.toThrow(CommandFailedError);
    await expect(cancelled).rejects.toThrow(/was cancelled/);
    expect(pid).toBeDefined();
    expect(processExists(pid ?? 0)).toBe(false);

    await unlockStale(repository);

    expect(await listLocks()).toEqual([]);
    expect(await listSnapshots(repository, { tags: ['cancelled'] })).toEqual([]);
  });

  it('forgets the given snapshots and prunes the data only they held', async () => {
    const doomedDirectory = path.join(root, 'source', 'doomed');
    await writeRandomFile(path.join(doomedDirectory, 'unique'), 3 * mebibyte);
    const doomed = await backup(repository, {
      directory: doomedDirectory,
      tags: ['doomed'],
      host: 'test-host',
    });
    const kept = (await listSnapshots(repository)).filter((snapshot) => snapshot.id !== doomed.snapshotId);
    // Clears out what the killed and cancelled backups left, so that what follows measures the forget.
    await prune(repository);
    const bytesBefore = await directoryBytes(path.join(repository.repository, 'data'));

    await forget(repository, []);
    expect(await listSnapshots(repository, { tags: ['doomed'] })).toHaveLength(1);

    await forget(repository, [doomed.snapshotId]);
    await prune(repository);

    expect((await listSnapshots(repository)).map((snapshot) => snapshot.id)).toEqual(
      kept.map((snapshot) => snapshot.id),
    );
    const bytesAfter = await directoryBytes(path.join(repository.repository, 'data'));
    expect(bytesBefore - bytesAfter).toBeGreaterThan(3 * mebibyte);
  });

  it('checks the repository, reading back a subset of its data', async () => {
    await expect(check(repository, { readDataSubset: '10%' })).resolves.toHaveProperty('seconds');
  });
});
