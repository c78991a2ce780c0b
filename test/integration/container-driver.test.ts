/**
 * A real PostgreSQL 15 server in a Podman container, run from the host's own root filesystem.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ContainerSpec } from '../../activities/host/container-arguments.js';
import {
  ContainerExitedError,
  ContainerMissingError,
  containerState,
  ensureContainerRunning,
  execInContainer,
  removeContainer,
  runToCompletion,
  stopContainer,
  waitUntilHealthy,
} from '../../activities/host/container-driver.js';
import { freeLoopbackPort } from '../../lib/ports.js';
import { runCommand } from '../../lib/process.js';
import { createLogger } from '../../lib/logger.js';
import { toolPath } from '../../lib/tools.js';

const binaries = '/usr/lib/postgresql/15/bin';
const suffix = randomBytes(4).toString('hex');
const serverName = `dbplane-test-pg-${suffix}`;
const initdbName = `dbplane-test-initdb-${suffix}`;
const failingName = `dbplane-test-failing-${suffix}`;
const logger = createLogger('test', { test: 'container-driver' });

let root: string;
let dataSource: string;
let port: number;

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8'))
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user on this host: install postgresql-15');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function containerSpec(name: string, command: string[], change: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name,
    image: 'docker.io/library/postgres:15',
    rootfs: '/',
    user: 'postgres',
    network: 'host',
    volumes: [{ source: dataSource, target: '/data' }],
    command,
    restartPolicy: 'no',
    labels: { 'dbplane.test': suffix },
    ...change,
  };
}

function serverSpec(change: Partial<ContainerSpec> = {}): ContainerSpec {
  return containerSpec(
    serverName,
    [
      `${binaries}/postgres`,
      '-D',
      '/data/pg',
      '-c',
      'listen_addresses=127.0.0.1',
      '-p',
      String(port),
      '-c',
      'unix_socket_directories=/tmp',
      '-c',
      'fsync=off',
    ],
    {
      healthCommand: [`${binaries}/pg_isready`, '-h', '127.0.0.1', '-p', String(port)],
      healthIntervalSeconds: 10,
      restartPolicy: 'on-failure',
      stopSignal: 'SIGINT',
      ...change,
    },
  );
}

async function queryFromHost(sql: string): Promise<string> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-At', '-c', sql];
  return (await runCommand(toolPath('psql'), args)).stdout.trim();
}

beforeAll(async () => {
  root = await mkdtemp('/tmp/dbplane-test-container-');
  dataSource = path.join(root, 'data');
  await mkdir(dataSource);
  const { uid, gid } = await postgresIds();
  await chown(dataSource, uid, gid);
  await chmod(dataSource, 0o700);
  port = await freeLoopbackPort();

  await runToCompletion(
    containerSpec(initdbName, [
      `${binaries}/initdb`,
      '-D',
      '/data/pg',
      '--username=postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--no-sync',
    ]),
  );
});

afterAll(async () => {
  for (const name of [serverName, initdbName, failingName]) {
    await runCommand('podman', ['rm', '--force', '--ignore', '--time', '2', name]).catch(() => undefined);
  }
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a PostgreSQL container from the host root filesystem', () => {
  it('leaves nothing behind from a one-shot run and writes its output where asked', async () => {
    expect(await containerState(initdbName)).toBe('missing');
    expect((await readFile(path.join(dataSource, 'pg', 'PG_VERSION'), 'utf8')).trim()).toBe('15');
  });

  it('returns what a one-shot container prints', async () => {
    const output = await runToCompletion(containerSpec(initdbName, ['/usr/bin/id', '-un']));

    expect(output.trim()).toBe('postgres');
  });

  it('is created, becomes healthy and answers queries', async () => {
    const result = await ensureContainerRunning(serverSpec(), logger);
    let attempts = 0;
    await waitUntilHealthy(serverName, {
      timeoutMilliseconds: 30_000,
      onAttempt: (attempt) => (attempts = attempt),
    });

    expect(result).toEqual({ created: true, started: true });
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(await containerState(serverName)).toBe('running');
    expect(await queryFromHost('SELECT 40 + 2')).toBe('42');
  });

  it('is left running as it is by a second ensure', async () => {
    const result = await ensureContainerRunning(serverSpec(), logger);

    expect(result).toEqual({ created: false, started: false });
  });

  it('runs commands inside the container', async () => {
    const output = await execInContainer(serverName, [
      `${binaries}/psql`,
      '-h',
      '/tmp',
      '-p',
      String(port),
      '-At',
      '-c',
      'SELECT current_user',
    ]);

    expect(output.trim()).toBe('postgres');
  });

  it('is started again after a stop, keeping its data', async () => {
    await queryFromHost('CREATE TABLE kept (value int); INSERT INTO kept VALUES (7)');

    await stopContainer(serverName, { timeoutSeconds: 20 });
    expect(await containerState(serverName)).toBe('exited');
    const result = await ensureContainerRunning(serverSpec(), logger);
    await waitUntilHealthy(serverName, { timeoutMilliseconds: 30_000 });

    expect(result).toEqual({ created: false, started: true });
    expect(await queryFromHost('SELECT value FROM kept')).toBe('7');
  });

  it('is recreated when its spec changes', async () => {
    const changed = serverSpec({ labels: { 'dbplane.test': suffix, 'dbplane.revision': '2' } });

    const result = await ensureContainerRunning(changed, logger);
    await waitUntilHealthy(serverName, { timeoutMilliseconds: 30_000 });

    expect(result).toEqual({ created: true, started: true });
    expect(await queryFromHost('SELECT value FROM kept')).toBe('7');
  });

  it('is removed, and removing or stopping it again is fine', async () => {
    await removeContainer(serverName, { timeoutSeconds: 20 });

    expect(await containerState(serverName)).toBe('missing');
    await removeContainer(serverName);
    await stopContainer(serverName);
  });
});

describe('container failures', () => {
  it('fail the health wait at once with the last log lines when the container exits', async () => {
    const spec = containerSpec(failingName, [`${binaries}/postgres`, '-D', '/data/no-such-directory'], {
      healthCommand: [`${binaries}/pg_isready`, '-h', '127.0.0.1', '-p', '1'],
    });
    await ensureContainerRunning(spec, logger);
    const started = Date.now();

    const failure = await waitUntilHealthy(failingName, { timeoutMilliseconds: 30_000 }).catch(
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(ContainerExitedError);
    expect((failure as Error).message).toMatch(/no-such-directory/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await removeContainer(failingName);
  });

  it('name a missing container with ContainerMissingError', async () => {
    await expect(execInContainer(`dbplane-test-absent-${suffix}`, ['true'])).rejects.toBeInstanceOf(
      ContainerMissingError,
    );
    await expect(
      waitUntilHealthy(`dbplane-test-absent-${suffix}`, { timeoutMilliseconds: 1_000 }),
    ).rejects.toBeInstanceOf(ContainerMissingError);
  });
});
