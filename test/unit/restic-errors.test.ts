import { describe, expect, it } from 'vitest';

import { classifyResticFailure, RepositoryMissingError } from '../../activities/host/restic-errors.js';
import {
  CommandFailedError,
  DiskFullError,
  RepositoryLockedError,
  RepositoryPasswordError,
  type CommandFailure,
} from '../../lib/errors.js';

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
        'unable to create lock in backend: ' +
          'repository is already locked exclusively by PID 13058 on vm by root',
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

describe('damaged repositories', () => {
  it.each([
    'Fatal: repository contains errors',
    'error: load <data/3f2e9a1c>: ciphertext verification failed',
    'pack 3f2e9a1c not found in index',
  ])('classify %j as RepositoryDamagedError, which no retry can fix', async (stderr) => {
    const { classifyResticFailure, RepositoryDamagedError } =
      await import('../../activities/host/restic-errors.js');
    const error = classifyResticFailure({ command: 'restic', args: ['check'], exitCode: 1, stderr });
    expect(error).toBeInstanceOf(RepositoryDamagedError);
  });
});
