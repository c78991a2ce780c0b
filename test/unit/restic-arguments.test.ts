import { describe, expect, it } from 'vitest';

import {
  buildBackupArguments,
  buildCheckArguments,
  buildForgetArguments,
  buildGlobalArguments,
  buildRestoreArguments,
  buildSnapshotsArguments,
  parseBackupLine,
  parseResticVersion,
  parseSnapshots,
  resticCacheDirectory,
  resticCapabilities,
} from '../../activities/host/restic.js';
import { classifyResticFailure, RepositoryMissingError } from '../../activities/host/restic-errors.js';
import {
  CommandFailedError,
  DiskFullError,
  RepositoryLockedError,
  RepositoryPasswordError,
  ValidationError,
  type CommandFailure,
} from '../../lib/errors.js';

const fullId = '84ce102c79bf1dbcf04fc20abc66a3c5c32ff19e83b7446229c6803d8fd10ff0';

describe('restic versions', () => {
  it.each([
    ['restic 0.18.1 compiled with go1.26.8 on linux/amd64', [0, 18, 1], true],
    ['restic 0.16.0 compiled with go1.21 on linux/amd64\n', [0, 16, 0], true],
    ['restic 0.15.2 compiled with go1.20 on linux/amd64', [0, 15, 2], false],
    ['restic 0.14.0 compiled with go1.19.8 on linux/amd64', [0, 14, 0], false],
    ['restic 1.0.0 compiled with go1.30 on linux/amd64', [1, 0, 0], true],
  ])('reads %j and knows whether it can wait for locks', (output, [major, minor, patch], retryLock) => {
    const version = parseResticVersion(output);

    expect([version.major, version.minor, version.patch]).toEqual([major, minor, patch]);
    expect(resticCapabilities(version).retryLock).toBe(retryLock);
  });

  it('refuses output that is not a restic version line', () => {
    expect(() => parseResticVersion('bash: restic: command not found')).toThrow(ValidationError);
  });
});

describe('the flags every restic call starts with', () => {
  const repository = { repository: '/data/backups/usersdb', passwordFile: '/s/restic', cacheDirectory: '/c' };

  it('name the repository, the password file and the cache, and wait for locks on 0.16+', () => {
    expect(buildGlobalArguments(repository, { retryLock: true })).toEqual([
      '--repo',
      '/data/backups/usersdb',
      '--password-file',
      '/s/restic',
      '--cache-dir',
      '/c',
      '--retry-lock',
      '2m',
    ]);
  });

  it('leave out --retry-lock for a restic that does not know it', () => {
    expect(buildGlobalArguments(repository, { retryLock: false })).not.toContain('--retry-lock');
  });

  it('make relative paths absolute, since backup runs in another directory', () => {
    const args = buildGlobalArguments({ ...repository, repository: 'relative/repo' }, { retryLock: false });

    expect(args[1]).toBe(`${process.cwd()}/relative/repo`);
  });

  it('never carry the password itself', () => {
    const args = buildGlobalArguments(repository, { retryLock: true });

    expect(args.some((argument) => /^--password($|=)/.test(argument))).toBe(false);
  });

  it('put the cache under the data root', () => {
    expect(resticCacheDirectory('/var/dbplane')).toBe('/var/dbplane/cache/restic');
  });
});

describe('backup arguments', () => {
  it('run restic in the parent directory with the directory name, so restore gives <target>/<name>', () => {
    const { cwd, args } = buildBackupArguments({
      directory: '/var/dbplane/snapshots/usersdb/pgdata',
      tags: ['module=usersdb', 'dbplane'],
      host: 'local',
    });

    expect(cwd).toBe('/var/dbplane/snapshots/usersdb');
    expect(args).toEqual([
      'backup',
      '--json',
      '--host',
      'local',
      '--tag',
      'module=usersdb',
      '--tag',
      'dbplane',
      '--',
      'pgdata',
    ]);
  });

  it('normalise a trailing slash away', () => {
    const { cwd, args } = buildBackupArguments({ directory: '/srv/data/', tags: [], host: 'h' });

    expect(cwd).toBe('/srv');
    expect(args.at(-1)).toBe('data');
  });

  it('keep a directory name that starts with a dash from being read as a flag', () => {
    const { args } = buildBackupArguments({ directory: '/srv/-odd', tags: [], host: 'h' });

    expect(args.slice(-2)).toEqual(['--', '-odd']);
  });

  it.each([
    ['a relative directory', { directory: 'pgdata', tags: [], host: 'h' }, 'directory'],
    ['the root directory', { directory: '/', tags: [], host: 'h' }, 'directory'],
    ['an empty host', { directory: '/d', tags: [], host: '' }, 'host'],
    ['a host with a space', { directory: '/d', tags: [], host: 'a b' }, 'host'],
    ['an empty tag', { directory: '/d', tags: ['ok', ''], host: 'h' }, 'tags[1]'],
    ['a tag with a comma', { directory: '/d', tags: ['a,b'], host: 'h' }, 'tags[0]'],
    ['a tag with a new line', { directory: '/d', tags: ['a\nb'], host: 'h' }, 'tags[0]'],
  ])('refuse %s, naming the field', (_case, request, field) => {
    expect(() => buildBackupArguments(request)).toThrow(
      expect.objectContaining({ name: 'ValidationError', field }),
    );
  });
});

describe('the other commands', () => {
  it.each([
    [{}, ['snapshots', '--json']],
    [{ tags: [] }, ['snapshots', '--json']],
    [{ tags: ['module=usersdb', 'dbplane'] }, ['snapshots', '--json', '--tag', 'module=usersdb,dbplane']],
    [{ host: 'local' }, ['snapshots', '--json', '--host', 'local']],
    [{ ids: ['84ce102c'] }, ['snapshots', '--json', '84ce102c']],
  ])('list snapshots for the filter %j', (filter, expected) => {
    expect(buildSnapshotsArguments(filter)).toEqual(expected);
  });

  it('forget exactly the given snapshots', () => {
    expect(buildForgetArguments([fullId, '88b718d0'])).toEqual(['forget', fullId, '88b718d0']);
  });

  it.each([['--prune'], ['latest'], ['84CE102C'], ['1234567'], [`${fullId}0`]])(
    'refuse %j as a snapshot id',
    (id) => {
      expect(() => buildForgetArguments([id])).toThrow(ValidationError);
      expect(() => buildRestoreArguments(id, '/t')).toThrow(ValidationError);
    },
  );

  it.each([['10%'], ['2.5%'], ['100%'], ['0.1%']])('check reads a subset of %s', (subset) => {
    expect(buildCheckArguments({ readDataSubset: subset })).toEqual([
      'check',
      `--read-data-subset=${subset}`,
    ]);
  });

  it.each([['10'], ['1/5'], ['101%'], ['100.5%'], ['-1%'], ['0%'], ['0.0%'], ['']])(
    'check refuses the subset %j',
    (subset) => {
      expect(() => buildCheckArguments({ readDataSubset: subset })).toThrow(
        expect.objectContaining({ field: 'readDataSubset' }),
      );
    },
  );

  it('restore a snapshot into an absolute target', () => {
    expect(buildRestoreArguments(fullId, '/scratch/r1')).toEqual([
      'restore',
      '--json',
      '--target',
      '/scratch/r1',
      fullId,
    ]);
  });
});

describe('backup output', () => {
  it('turns a status line into a percentage and bytes', () => {
    const line =
      '{"message_type":"status","percent_done":0.5,"total_files":4,"total_bytes":2000,"bytes_done":1000}';

    expect(parseBackupLine(line)).toEqual({ type: 'status', percent: 50, bytesDone: 1000, bytesTotal: 2000 });
  });

  it('reads a first status line of 0.14, which has no bytes done yet', () => {
    const line = '{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":50000000}';

    expect(parseBackupLine(line)).toEqual({ type: 'status', percent: 0, bytesDone: 0, bytesTotal: 50000000 });
  });

  it('reads the summary of 0.18, preferring the packed (compressed) bytes added', () => {
    const line = JSON.stringify({
      message_type: 'summary',
      files_new: 2,
      data_added: 1001402,
      data_added_packed: 1001145,
      total_files_processed: 2,
      total_bytes_processed: 1000003,
      total_duration: 0.73,
      snapshot_id: fullId,
    });

    expect(parseBackupLine(line)).toEqual({
      type: 'summary',
      snapshotId: fullId,
      bytesAdded: 1001145,
      totalBytes: 1000003,
      filesNew: 2,
      totalFiles: 2,
      seconds: 0.73,
    });
  });

  it('reads the summary of 0.14, with its short snapshot id and no packed size', () => {
    const line =
      '{"message_type":"summary","files_new":2,"data_added":1001402,"total_files_processed":2,' +
      '"total_bytes_processed":1000003,"total_duration":0.22,"snapshot_id":"88b718d0"}';

    expect(parseBackupLine(line)).toMatchObject({ snapshotId: '88b718d0', bytesAdded: 1001402 });
  });

  it('reads an error line naming the item that could not be read', () => {
    const line =
      '{"message_type":"error","error":{"message":"permission denied"},"during":"archival","item":"/d/x"}';

    expect(parseBackupLine(line)).toEqual({ type: 'error', item: '/d/x', message: 'permission denied' });
  });

  it.each([[''], ['open repository'], ['{not json'], ['{"message_type":"verbose_status"}'], ['[1]']])(
    'ignores the line %j',
    (line) => {
      expect(parseBackupLine(line)).toBeUndefined();
    },
  );
});

describe('snapshot lists', () => {
  it('reads restic snapshots --json into our shape', () => {
    const stdout = JSON.stringify([
      {
        time: '2026-12-04T17:19:20.327271801Z',
        paths: ['/tmp/rx/data'],
        hostname: 'h1',
        tags: ['t1', 't2'],
        id: fullId,
        short_id: '84ce102c',
      },
      { time: '2026-12-05T01:00:00+01:00', paths: ['/a'], hostname: 'h2', id: 'ab'.repeat(32) },
    ]);

    expect(parseSnapshots(stdout)).toEqual([
      {
        id: fullId,
        shortId: '84ce102c',
        time: '2026-12-04T17:19:20.327271801Z',
        tags: ['t1', 't2'],
        hostname: 'h1',
        paths: ['/tmp/rx/data'],
      },
      {
        id: 'ab'.repeat(32),
        shortId: 'abababab',
        time: '2026-12-05T01:00:00+01:00',
        tags: [],
        hostname: 'h2',
        paths: ['/a'],
      },
    ]);
  });

  it.each([['[]'], ['[]\n'], ['null'], ['']])('reads %j as no snapshots', (stdout) => {
    expect(parseSnapshots(stdout)).toEqual([]);
  });
});

describe('restic failures', () => {
  const failure = (
    exitCode: number,
    stderr: string,
    extra: Partial<CommandFailure> = {},
  ): CommandFailure => ({
    command: 'restic',
    args: ['backup'],
    exitCode,
    stderr,
    ...extra,
  });

  it.each([
    ['exit code 10 (0.17+)', failure(10, 'Fatal: repository does not exist'), RepositoryMissingError],
    ['exit code 11 (0.17+)', failure(11, 'unable to create lock in backend'), RepositoryLockedError],
    ['exit code 12 (0.17+)', failure(12, 'Fatal: wrong password or no key found'), RepositoryPasswordError],
    [
      'a missing config file (0.14)',
      failure(
        1,
        'Fatal: unable to open config file: stat repo/config: no such file or directory\n' +
          'Is there a repository at the following location?\nrepo',
      ),
      RepositoryMissingError,
    ],
    ['a wrong password (0.14)', failure(1, 'Fatal: wrong password or no key found'), RepositoryPasswordError],
    [
      'a lock held by another process (0.14)',
      failure(
        1,
        'unable to create lock in backend: repository is already locked exclusively by PID 13058 on vm by root',
      ),
      RepositoryLockedError,
    ],
    [
      'a full disk',
      failure(1, 'Fatal: unable to save snapshot: write /r/data/1a/1a2b: no space left on device'),
      DiskFullError,
    ],
  ])('tells %s apart', (_case, input, errorClass) => {
    const error = classifyResticFailure(input);

    expect(error).toBeInstanceOf(errorClass);
    expect(error.name).toBe(errorClass.name);
  });

  it('reports other failures as a plain CommandFailedError', () => {
    const error = classifyResticFailure(failure(3, 'Warning: at least one source file could not be read'));

    expect(error.constructor).toBe(CommandFailedError);
    expect(error.exitCode).toBe(3);
  });

  it("turns restic 0.18's JSON exit error into the plain message before classifying it", () => {
    const stderr =
      '{"message_type":"exit_error","code":1,"message":"Fatal: unable to save snapshot: ' +
      'write /r/data/1a: no space left on device\\nplease free some space"}';

    const error = classifyResticFailure(failure(1, stderr));

    expect(error).toBeInstanceOf(DiskFullError);
    expect(error.stderrTail).toBe(
      'Fatal: unable to save snapshot: write /r/data/1a: no space left on device\nplease free some space',
    );
  });

  it('drops terminal escape codes from what restic printed', () => {
    const error = classifyResticFailure(failure(1, '\u001b[2Ksignal terminated received, cleaning up'));

    expect(error.stderrTail).toBe('signal terminated received, cleaning up');
  });

  it('reports a cancelled restic as cancelled whatever it printed on the way out', () => {
    const error = classifyResticFailure(
      failure(130, 'signal terminated received, cleaning up\nrepository is already locked', {
        cancelled: true,
      }),
    );

    expect(error.constructor).toBe(CommandFailedError);
    expect(error.message).toMatch(/was cancelled/);
  });
});
