import { describe, expect, it } from 'vitest';

import {
  buildBackupArguments,
  buildCheckArguments,
  buildForgetArguments,
  buildGlobalArguments,
  buildRestoreArguments,
  buildSnapshotsArguments,
  resticCacheDirectory,
} from '../../activities/host/restic-arguments.js';
import { ValidationError } from '../../lib/errors.js';

const fullId = '84ce102c79bf1dbcf04fc20abc66a3c5c32ff19e83b7446229c6803d8fd10ff0';

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
