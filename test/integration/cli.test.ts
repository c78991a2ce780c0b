/**
 * The dbplane command as an operator runs it: `up --once` twice on its own data root, namespace
 * and host, against the shared Temporal server; and clear exits for bad input.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freeLoopbackPort } from '../../lib/ports.js';
import { registerSearchAttributes } from '../../lib/temporal-namespace.js';
import { testEnvironment } from '../support/client.js';
import { cleanUpDataRoot } from '../support/cleanup.js';
import { testSpec } from '../support/global-setup.js';
import { projectRoot, waitFor } from '../support/processes.js';

const execFileAsync = promisify(execFile);
const environment = testEnvironment();
const namespace = 'dbplane-cli-test';
const root = path.join(environment.root, 'cli');
const specFile = path.join(root, 'platform.yaml');

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function commandEnvironment(): Promise<Record<string, string>> {
  return {
    TEMPORAL_ADDRESS: environment.temporalAddress,
    TEMPORAL_NAMESPACE: namespace,
    DBPLANE_SPEC: specFile,
    DBPLANE_CONTROL_METRICS_PORT: String(await freeLoopbackPort()),
    DBPLANE_HOST_METRICS_PORT: String(await freeLoopbackPort()),
  };
}

async function dbplane(
  args: string[],
  extraEnvironment: Record<string, string> = {},
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [path.join(projectRoot, 'bin', 'dbplane.js'), ...args],
      {
        env: { ...process.env, ...(await commandEnvironment()), ...extraEnvironment },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

function lastJson(stdout: string): Record<string, any> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '{}');
}

beforeAll(async () => {
  mkdirSync(root, { recursive: true });
  writeFileSync(
    specFile,
    testSpec(
      path.join(root, 'data'),
      'clitest',
      `dbplane-host-cli-${path.basename(environment.root)}`,
      await freeLoopbackPort(),
    ),
  );
  const connection = await Connection.connect({ address: environment.temporalAddress });
  try {
    await connection.workflowService
      .registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: 86_400 } })
      .catch((error: Error) => {
        if (!/already exists/i.test(error.message)) throw error;
      });
    await registerSearchAttributes(connection, namespace);
  } finally {
    await connection.close();
  }
});

afterAll(async () => {
  await cleanUpDataRoot(root);
});

describe('dbplane up --once', () => {
  it('provisions, loads, backs up under load and proves the backup, twice in a row', async () => {
    const first = await dbplane(['up', '--once', '--scale', '1']);
    const firstReport = lastJson(first.stdout);
    expect(firstReport, first.stderr.slice(-3000)).toMatchObject({
      ok: true,
      modules: { usersdb: 'running' },
    });
    expect(firstReport.restoreCheck.passed).toBe(true);
    expect(firstReport.backup.bytes).toBeGreaterThan(0);
    expect(firstReport.workload.transactionsDuringBackup).toBeGreaterThan(0);
    expect(first.stdout).toContain('MODULE');
    expect(first.code).toBe(0);

    const second = await dbplane(['up', '--once', '--scale', '1']);
    const secondReport = lastJson(second.stdout);
    expect(second.code, second.stderr.slice(-3000)).toBe(0);
    expect(secondReport.workload.loaded).toBe(false);
    expect(secondReport.backup.snapshotId).not.toBe(firstReport.backup.snapshotId);
    expect(secondReport.schedules.created).toEqual([]);

    const status = await dbplane(['status', '--json']);
    expect(JSON.parse(status.stdout)[0]).toMatchObject({ module: 'usersdb', state: 'running' });
  });

  it('pauses, unpauses and triggers the schedules', async () => {
    const paused = await dbplane(['schedules', 'pause', 'usersdb', '--operation', 'backup', '--json']);
    expect(JSON.parse(paused.stdout)).toEqual([
      expect.objectContaining({ scheduleId: 'dbplane-backup-usersdb', paused: true }),
    ]);

    const listed = JSON.parse((await dbplane(['schedules', '--json'])).stdout);
    expect(listed.map((state: { paused: boolean }) => state.paused).sort()).toEqual([false, true]);

    const unpaused = await dbplane(['schedules', 'unpause', 'usersdb', '--json']);
    expect(JSON.parse(unpaused.stdout).every((state: { paused: boolean }) => !state.paused)).toBe(true);

    const triggered = await dbplane([
      'schedules',
      'trigger',
      'usersdb',
      '--operation',
      'restore-check',
      '--json',
    ]);
    expect(triggered.code, triggered.stderr).toBe(0);
    const badOperation = await dbplane(['schedules', 'pause', 'usersdb', '--operation', 'vacuum']);
    expect(badOperation.code).toBe(2);
    expect(badOperation.stderr).toContain(
      '--operation: expected one of backup, restore-check, received "vacuum"',
    );
  });
});

function childrenOf(pid: number, script: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const parent = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
        return parent === pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(script);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('dbplane up, running until Ctrl-C', () => {
  it('restarts a worker that dies, and stops cleanly on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [path.join(projectRoot, 'bin', 'dbplane.js'), 'up', '--scale', '1'],
      {
        env: { ...process.env, ...(await commandEnvironment()) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitFor('up to finish its first round', () => stdout.includes('MODULE'), 300_000);

    const [agent] = childrenOf(child.pid ?? 0, 'host-agent.js');
    expect(agent).toBeDefined();
    process.kill(agent as number, 'SIGKILL');
    await waitFor(
      'a new host agent',
      () => childrenOf(child.pid ?? 0, 'host-agent.js').some((pid) => pid !== agent),
      30_000,
    );

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(lastJson(stdout)).toMatchObject({ ok: true });
    expect(childrenOf(child.pid ?? 0, 'workers/')).toEqual([]);
  });
});

describe('bad input on the command line', () => {
  it.each([
    [['provision', 'users;rm -rf /'], 'module: expected a lower-case name'],
    [['backup', '../etc'], 'module: expected a lower-case name'],
    [['provision', 'billingdb'], 'module: expected one of usersdb'],
    [['provision', 'agentsdb'], 'module agentsdb is not supported yet'],
  ])('dbplane %j exits 2 and names the problem', async (args, message) => {
    const result = await dbplane(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('exits 2 with the field, the expectation and the value for an invalid spec', async () => {
    const invalid = path.join(root, 'invalid.yaml');
    writeFileSync(invalid, 'apiVersion: dbplane/v1\ndataRoot: 7\nhosts: []\nmodules: {}\n');
    const result = await dbplane(['status'], { DBPLANE_SPEC: invalid });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('dataRoot: expected a string, received number 7');
    expect(result.stderr).toContain('hosts: expected at least 1 entries');
  });
});
