import { describe, expect, it } from 'vitest';

import {
  buildRunArguments,
  configurationLabel,
  type ContainerSpec,
} from '../../activities/host/container-arguments.js';
import { ValidationError } from '../../lib/errors.js';

const baseSpec = (): ContainerSpec => ({
  name: 'dbplane-usersdb',
  image: 'docker.io/library/postgres:15',
  network: 'host',
  volumes: [],
  command: [],
  restartPolicy: 'on-failure',
  labels: {},
  limits: { nofile: 20_000, nproc: 4_096 },
});

/** The value that follows each occurrence of option. */
function valuesOf(args: readonly string[], option: string): string[] {
  return args.flatMap((arg, index) => (arg === option ? [args[index + 1] ?? ''] : []));
}

function hashOf(args: readonly string[]): string {
  const label = valuesOf(args, '--label').find((value) => value.startsWith(`${configurationLabel}=`));
  return label?.slice(configurationLabel.length + 1) ?? '';
}

describe('buildRunArguments', () => {
  const cases: {
    title: string;
    change: Partial<ContainerSpec>;
    expectOption?: [string, string][];
    expectAbsent?: string[];
    expectTail?: string[];
  }[] = [
    {
      title: 'runs an image with its command after the image',
      change: { command: ['postgres', '-p', '5432'] },
      expectTail: ['docker.io/library/postgres:15', 'postgres', '-p', '5432'],
      expectAbsent: ['--rootfs'],
    },
    {
      title: 'runs a rootfs under an overlay in place of the image, with the command after it',
      change: { rootfs: '/', command: ['/usr/lib/postgresql/15/bin/postgres', '-D', '/data'] },
      expectTail: ['--rootfs', '/:O', '/usr/lib/postgresql/15/bin/postgres', '-D', '/data'],
    },
    {
      title: 'bind-mounts volumes, read-only when asked',
      change: {
        volumes: [
          { source: '/srv/data', target: '/var/lib/dbplane' },
          { source: '/srv/conf', target: '/etc/conf', readOnly: true },
        ],
      },
      expectOption: [
        ['-v', '/srv/data:/var/lib/dbplane'],
        ['-v', '/srv/conf:/etc/conf:ro'],
      ],
    },
    {
      title: 'adds the managed label next to the spec labels',
      change: { labels: { 'dbplane.module': 'usersdb' } },
      expectOption: [
        ['--label', 'dbplane.module=usersdb'],
        ['--label', 'dbplane.managed=true'],
      ],
    },
    {
      title: 'passes the health command as a JSON array, with its interval',
      change: { healthCommand: ['pg_isready', '-h', '127.0.0.1'], healthIntervalSeconds: 10 },
      expectOption: [
        ['--health-cmd', '["pg_isready","-h","127.0.0.1"]'],
        ['--health-interval', '10s'],
      ],
    },
    {
      title: 'sets the restart policy of a detached container',
      change: { restartPolicy: 'always' },
      expectOption: [['--restart', 'always']],
    },
    {
      title: 'sets both ulimits explicitly, soft equal to hard',
      change: { limits: { nofile: 1024, nproc: 512 } },
      expectOption: [
        ['--ulimit', 'nofile=1024:1024'],
        ['--ulimit', 'nproc=512:512'],
        ['--runtime', 'runc'],
        ['--network', 'host'],
      ],
    },
    {
      title: 'runs as the given user',
      change: { user: 'postgres' },
      expectOption: [['--user', 'postgres']],
    },
    {
      title: 'names environment variables without their values',
      change: { environment: { POSTGRES_PASSWORD: 'secret-value' } },
      expectOption: [['--env', 'POSTGRES_PASSWORD']],
    },
    {
      title: 'places extra arguments among the options, before the image',
      change: { extraArguments: ['--shm-size', '256m'], command: ['postgres'] },
      expectOption: [['--shm-size', '256m']],
      expectTail: ['docker.io/library/postgres:15', 'postgres'],
    },
    {
      title: 'sets the stop signal',
      change: { stopSignal: 'SIGINT' },
      expectOption: [['--stop-signal', 'SIGINT']],
    },
  ];

  it.each(cases)('$title', ({ change, expectOption = [], expectAbsent = [], expectTail = [] }) => {
    const args = buildRunArguments({ ...baseSpec(), ...change });

    expect(args.slice(0, 2)).toEqual(['run', '--detach']);
    for (const [option, value] of expectOption) expect(valuesOf(args, option)).toContain(value);
    for (const option of expectAbsent) expect(args).not.toContain(option);
    expect(args.slice(args.length - expectTail.length)).toEqual(expectTail);
  });

  it('puts every option before the rootfs, so none is taken for the command', () => {
    const args = buildRunArguments({
      ...baseSpec(),
      rootfs: '/',
      user: 'postgres',
      healthCommand: ['pg_isready'],
      command: ['/bin/postgres'],
    });

    expect(args.indexOf('--rootfs')).toBe(args.length - 3);
  });

  it('runs a one-shot container with --rm and --replace and without a restart policy', () => {
    const args = buildRunArguments(baseSpec(), 'once');

    expect(args.slice(0, 3)).toEqual(['run', '--rm', '--replace']);
    expect(args).not.toContain('--restart');
    expect(args).not.toContain('--detach');
  });

  it('never puts an environment value on the command line but changes the hash when one changes', () => {
    const first = buildRunArguments({ ...baseSpec(), environment: { PASSWORD: 'one-secret' } });
    const second = buildRunArguments({ ...baseSpec(), environment: { PASSWORD: 'another-secret' } });

    expect(first.join(' ')).not.toContain('one-secret');
    expect(hashOf(first)).toMatch(/^[0-9a-f]{16}$/);
    expect(hashOf(first)).not.toBe(hashOf(second));
  });

  it('gives the same hash for the same spec and another for a changed command', () => {
    const spec = { ...baseSpec(), command: ['postgres', '-p', '5432'] };

    expect(hashOf(buildRunArguments(spec))).toBe(hashOf(buildRunArguments({ ...spec })));
    expect(hashOf(buildRunArguments(spec))).not.toBe(
      hashOf(buildRunArguments({ ...spec, command: ['postgres', '-p', '5433'] })),
    );
  });

  const invalid: { title: string; change: Partial<ContainerSpec>; field: string }[] = [
    { title: 'a name with a space', change: { name: 'bad name' }, field: 'name' },
    { title: 'a name starting with a dash', change: { name: '-x' }, field: 'name' },
    {
      title: 'a relative volume source',
      change: { volumes: [{ source: 'data', target: '/d' }] },
      field: 'volumes[0].source',
    },
    {
      title: 'a volume target with a colon',
      change: { volumes: [{ source: '/d', target: '/a:b' }] },
      field: 'volumes[0].target',
    },
    { title: 'a rootfs without a command', change: { rootfs: '/' }, field: 'command' },
    {
      title: 'an environment name with a dash',
      change: { environment: { 'A-B': 'x' } },
      field: 'environment',
    },
    { title: 'an empty health command', change: { healthCommand: [] }, field: 'healthCommand' },
    {
      title: 'a fractional health interval',
      change: { healthIntervalSeconds: 1.5 },
      field: 'healthIntervalSeconds',
    },
    { title: 'a user with a space', change: { user: 'post gres' }, field: 'user' },
    {
      title: 'a label that would overwrite the hash',
      change: { labels: { [configurationLabel]: 'x' } },
      field: 'labels',
    },
  ];

  it.each(invalid)('refuses $title, naming the field', ({ change, field }) => {
    let thrown: unknown;
    try {
      buildRunArguments({ ...baseSpec(), ...change });
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as ValidationError).field).toBe(field);
  });
});
