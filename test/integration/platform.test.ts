/**
 * The platform end to end, against a real Temporal server, real workers, Podman, XFS, PostgreSQL
 * and restic: provisioning, bad input, backups under load with restore checks, and faults.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { WorkflowFailedError, type Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readCatalogEntry } from '../../lib/catalog.js';
import { loadSpecFile } from '../../lib/spec/load.js';
import { planModule, type ModulePlan } from '../../lib/spec/plan.js';
import { secretNames, readSecret } from '../../lib/secrets.js';
import { withModuleConnection } from '../../lib/postgres.js';
import type { BackupModuleResult } from '../../workflows/backup-module.js';
import type { ProvisionModuleResult } from '../../workflows/provision-module.js';
import type { Progress } from '../../workflows/progress.js';
import { committedTransactions, loadWorkload, startWriting } from '../../cli/workload.js';
import { moduleRepository } from '../../activities/host/repository.js';
import { listSnapshots } from '../../activities/host/restic.js';
import { createLogger } from '../../lib/logger.js';
import { testClient, testEnvironment } from '../support/client.js';
import { saveHistory } from '../support/histories.js';
import { mountsUnder } from '../support/cleanup.js';
import { startWorker, waitFor, workerPid } from '../support/processes.js';
import { testSpec } from '../support/global-setup.js';
import { processExists } from '../../lib/process.js';

const environment = testEnvironment();
let client: Client;
let plan: ModulePlan;

function currentPlan(): ModulePlan {
  const { spec, directory } = loadSpecFile(environment.specFile);
  return planModule(spec, directory, 'usersdb');
}

async function run<T>(workflowType: string, input: unknown, workflowId: string): Promise<T> {
  return await client.workflow.execute(workflowType, {
    taskQueue: 'dbplane-control',
    workflowId,
    args: [input],
  });
}

async function failureOf(promise: Promise<unknown>): Promise<{ type?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowFailedError);
    let cause = (error as WorkflowFailedError).cause as
      (Error & { type?: string; cause?: unknown }) | undefined;
    while (cause?.cause instanceof Error) cause = cause.cause as Error & { type?: string };
    return { ...(cause?.type ? { type: cause.type } : {}), message: cause?.message ?? '' };
  }
  throw new Error('the workflow succeeded');
}

function isFrozen(mountPoint: string): boolean {
  try {
    execFileSync('timeout', ['5', 'touch', path.join(mountPoint, '.thaw-probe')]);
    return false;
  } catch {
    return true;
  }
}

function resticProcesses(repository: string): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      } catch {
        return '';
      }
    })
    .filter((command) => command.includes('restic') && command.includes(repository));
}

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return await response.text();
}

/** Starts a backup of usersdb and returns once its progress query reports the given phase. */
async function startBackupUntilPhase(workflowId: string, phase: string) {
  const handle = await client.workflow.start('backupModule', {
    taskQueue: 'dbplane-control',
    workflowId,
    args: [{ module: 'usersdb' }],
  });
  await waitFor(`the backup to reach ${phase}`, async () => {
    const progress = await handle.query<Progress>('progress').catch(() => undefined);
    return progress?.phase === phase;
  });
  return handle;
}

beforeAll(async () => {
  client = await testClient();
  plan = currentPlan();
});

afterAll(async () => {
  await client?.connection.close();
});

describe('provisionModule', () => {
  it('provisions usersdb in a container on its own XFS volume, and a second run changes nothing', async () => {
    const first = await run<ProvisionModuleResult>(
      'provisionModule',
      { module: 'usersdb' },
      'it-provision-first',
    );

    expect(first.created).toEqual(expect.arrayContaining(['volume', 'data directory', 'container']));
    expect(first.volumeMode).toBe('xfs');
    const mount = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((line) => line.split(' ')[4] === plan.paths.mountPoint);
    expect(mount).toMatch(/ xfs /);
    expect(mount).toMatch(/noatime/);
    const extensions = await withModuleConnection(
      plan,
      { database: plan.database, user: plan.roles.readWrite, secret: 'read-write' },
      async (connection) =>
        (await connection.query<{ extname: string }>('SELECT extname FROM pg_extension ORDER BY 1')).rows.map(
          (row) => row.extname,
        ),
    );
    expect(extensions).toEqual(expect.arrayContaining(['pgcrypto', 'uuid-ossp']));
    for (const name of secretNames) {
      expect(statSync(path.join(plan.paths.secretsDirectory, `${name}.password`)).mode & 0o777).toBe(0o600);
    }

    const second = await run<ProvisionModuleResult>(
      'provisionModule',
      { module: 'usersdb' },
      'it-provision-again',
    );
    expect(second.created).toEqual([]);
    expect((await readCatalogEntry(plan.paths.catalogFile))?.state).toBe('running');
    await saveHistory(client, 'it-provision-first', 'provisionModule');
    await saveHistory(client, 'it-provision-again', 'provisionModule');
  });

  it('grants the read-only role reads and nothing else', async () => {
    await withModuleConnection(
      plan,
      { database: plan.database, user: plan.roles.owner, secret: 'owner' },
      (connection) =>
        connection.query(
          'CREATE TABLE IF NOT EXISTS profiles (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), data jsonb)',
        ),
    );
    await withModuleConnection(
      plan,
      { database: plan.database, user: plan.roles.readWrite, secret: 'read-write' },
      (connection) => connection.query(`INSERT INTO profiles (data) VALUES ('{"name": "ada"}')`),
    );
    const denied = await withModuleConnection(
      plan,
      { database: plan.database, user: plan.roles.readOnly, secret: 'read-only' },
      async (connection) => {
        expect((await connection.query('SELECT count(*) FROM profiles')).rows[0].count).not.toBe('0');
        return await connection.query('DELETE FROM profiles').then(
          () => 'allowed',
          (error: Error) => error.message,
        );
      },
    );
    expect(denied).toMatch(/permission denied/);
  });

  it.each([
    [{ module: '../etc' }, 'ValidationError', 'module: expected a lower-case name'],
    [{ module: 'users;rm -rf /' }, 'ValidationError', 'module: expected a lower-case name'],
    [
      { module: 'billingdb' },
      'ValidationError',
      'module: expected one of usersdb, agentsdb, modelsdb, vectorstore, queuedb, received "billingdb"',
    ],
    [{}, 'ValidationError', 'module: expected a module name such as "usersdb", received nothing'],
    [
      'usersdb',
      'ValidationError',
      'input: expected an object such as {"module": "usersdb"}, received string "usersdb"',
    ],
    [
      { module: 'usersdb', extra: 1 },
      'ValidationError',
      'extra: expected one of the fields module, received an unknown field',
    ],
  ])('refuses %j with an error that names the field, and creates nothing', async (input, type, message) => {
    const before = readdirSync(environment.dataRoot).sort();

    const failure = await failureOf(
      run('provisionModule', input, `it-bad-input-${Math.random().toString(36).slice(2)}`),
    );

    expect(failure.type).toBe(type);
    expect(failure.message).toContain(message);
    expect(readdirSync(environment.dataRoot).sort()).toEqual(before);
  });

  it('undoes what a run made when a later step fails', async () => {
    const original = readFileSync(environment.specFile, 'utf8');
    const failingRoot = path.join(environment.root, 'data-failing');
    const failingSpec = testSpec(
      failingRoot,
      'failing',
      environment.hostTaskQueue,
      environment.modulePort + 1,
      ['uuid-ossp', 'no_such_extension'],
    );
    writeFileSync(environment.specFile, failingSpec);
    try {
      const failingPlan = currentPlan();

      const failure = await failureOf(run('provisionModule', { module: 'usersdb' }, 'it-provision-undone'));

      expect(failure.type).toBe('ValidationError');
      expect(failure.message).toContain(
        'modules.usersdb.extensions: expected extensions installed on the server',
      );
      expect(
        execFileSync('podman', ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8' }),
      ).not.toContain(failingPlan.containerName);
      expect(mountsUnder(failingRoot)).toEqual([]);
      expect(existsSync(failingPlan.paths.volumeImage)).toBe(false);
      expect(existsSync(path.join(failingPlan.paths.secretsDirectory, 'superuser.password'))).toBe(false);
      expect(await readCatalogEntry(failingPlan.paths.catalogFile)).toBeUndefined();
      await saveHistory(client, 'it-provision-undone', 'provisionModule');
    } finally {
      writeFileSync(environment.specFile, original);
    }
  });
});

describe('backupModule', () => {
  it('backs up while pgbench writes, and reports the backup good only after its restore check passed', async () => {
    await loadWorkload(plan, 2);
    const before = await committedTransactions(plan);
    const writer = await startWriting(plan, 2);
    let result: BackupModuleResult;
    try {
      result = await run<BackupModuleResult>('backupModule', { module: 'usersdb' }, 'it-backup-under-load');
    } finally {
      await writer.stop();
    }

    expect(await committedTransactions(plan)).toBeGreaterThan(before);
    expect(result.restoreCheck?.passed).toBe(true);
    expect(result.restoreCheck?.filesMatched).toBeGreaterThan(100);
    expect(result.restoreCheck?.rows).toBeGreaterThanOrEqual(200_000);
    expect(result.bytes).toBeGreaterThan(10_000_000);
    const entry = await readCatalogEntry(plan.paths.catalogFile);
    expect(entry?.lastVerifiedBackup?.snapshotId).toBe(result.snapshotId);
    expect(entry?.lastRestoreCheck?.passed).toBe(true);
    expect(isFrozen(plan.paths.mountPoint)).toBe(false);
    expect(readdirSync(plan.paths.snapshotsDirectory)).toEqual([]);
    expect(mountsUnder(plan.paths.snapshotsDirectory)).toEqual([]);

    const history = JSON.stringify(await client.workflow.getHandle('it-backup-under-load').fetchHistory());
    for (const name of secretNames)
      expect(history).not.toContain(await readSecret(plan.paths.secretsDirectory, name));
    await saveHistory(client, 'it-backup-under-load', 'backupModule');
    await saveHistory(client, 'it-backup-under-load-restore-check', 'restoreCheck');
  });

  it('finishes after the host agent is killed in the middle of a backup, leaving no freeze and no lock', async () => {
    const handle = await startBackupUntilPhase('it-backup-killed-agent', 'store');
    const agent = workerPid(environment, 'host-agent');
    process.kill(agent, 'SIGKILL');
    await waitFor('the host agent to die', () => !processExists(agent));

    expect(isFrozen(plan.paths.mountPoint)).toBe(false);
    startWorker(environment, 'host-agent');
    const result = (await handle.result()) as BackupModuleResult;

    expect(result.restoreCheck?.passed).toBe(true);
    expect(readdirSync(path.join(plan.paths.repository, 'locks'))).toEqual([]);
    expect(isFrozen(plan.paths.mountPoint)).toBe(false);
    await saveHistory(client, 'it-backup-killed-agent', 'backupModule');
  });

  it('lets a running step finish when the host agent is told to stop, and the backup completes', async () => {
    const handle = await startBackupUntilPhase('it-backup-agent-stopped', 'store');
    const agent = workerPid(environment, 'host-agent');

    process.kill(agent, 'SIGTERM');
    await waitFor('the host agent to shut down', () => !processExists(agent), 60_000);

    expect(resticProcesses(plan.paths.repository)).toEqual([]);
    expect(isFrozen(plan.paths.mountPoint)).toBe(false);
    startWorker(environment, 'host-agent');
    const result = (await handle.result()) as BackupModuleResult;
    expect(result.restoreCheck?.passed).toBe(true);
    expect(readdirSync(path.join(plan.paths.repository, 'locks'))).toEqual([]);
  });

  it('stops restic and cleans up when a backup is cancelled', async () => {
    const handle = await startBackupUntilPhase('it-backup-cancelled', 'store');

    await handle.cancel();

    const failure = await failureOf(handle.result());
    expect(failure.message).toMatch(/cancel/i);
    expect(resticProcesses(plan.paths.repository)).toEqual([]);
    expect(readdirSync(plan.paths.snapshotsDirectory)).toEqual([]);
    expect(mountsUnder(plan.paths.snapshotsDirectory)).toEqual([]);
    expect(isFrozen(plan.paths.mountPoint)).toBe(false);
    expect(readdirSync(path.join(plan.paths.repository, 'locks'))).toEqual([]);
    await saveHistory(client, 'it-backup-cancelled', 'backupModule');
  });

  it('brings a killed database server back before it takes the snapshot', async () => {
    execFileSync('podman', ['kill', plan.containerName]);

    const result = await run<BackupModuleResult>(
      'backupModule',
      { module: 'usersdb' },
      'it-backup-killed-database',
    );

    expect(result.restoreCheck?.passed).toBe(true);
    expect(
      execFileSync('podman', ['inspect', '--format', '{{.State.Status}}', plan.containerName], {
        encoding: 'utf8',
      }).trim(),
    ).toBe('running');
    await saveHistory(client, 'it-backup-killed-database', 'backupModule');
  });

  it.each([
    [
      'backupModule',
      { module: 'usersdb', verify: 'no' },
      'verify: expected true or false, received string "no"',
    ],
    ['restoreCheck', { module: 'usersdb', snapshotId: '../x' }, 'snapshotId: expected a restic snapshot id'],
  ])('refuses bad %s input before any step runs', async (workflowType, input, message) => {
    const failure = await failureOf(run(workflowType, input, `it-bad-${workflowType}-${Date.now()}`));

    expect(failure).toMatchObject({ type: 'ValidationError' });
    expect(failure.message).toContain(message);
  });

  it('does not count a restore check of a snapshot that does not exist as a failed check', async () => {
    const before = (await readCatalogEntry(plan.paths.catalogFile))?.failures['restore-check'] ?? 0;

    const failure = await failureOf(
      run(
        'restoreCheck',
        { module: 'usersdb', snapshotId: 'deadbeefdeadbeef' },
        'it-restore-check-unknown-snapshot',
      ),
    );

    expect(failure).toMatchObject({ type: 'ValidationError' });
    expect((await readCatalogEntry(plan.paths.catalogFile))?.failures['restore-check'] ?? 0).toBe(before);
    await saveHistory(client, 'it-restore-check-unknown-snapshot', 'restoreCheck');
  });

  it('forgets the snapshots that the spec keeps no longer', async () => {
    const result = await run<BackupModuleResult>(
      'backupModule',
      { module: 'usersdb', verify: false },
      'it-backup-retention',
    );

    // The test spec keeps the last two, and every earlier backup applied it too: one more is too many.
    expect(result.forgotten).toBe(1);
    expect(result.restoreCheck).toBeUndefined();
    const repository = moduleRepository(plan, createLogger('test'));
    expect((await listSnapshots(repository, { tags: ['module=usersdb'] })).length).toBe(2);
    const entry = await readCatalogEntry(plan.paths.catalogFile);
    expect(entry?.lastBackup?.snapshotId).toBe(result.snapshotId);
    expect(entry?.lastVerifiedBackup?.snapshotId).not.toBe(result.snapshotId);
  });
});

describe('metrics', () => {
  it('exports the last verified backup and restore check per module, and the SDK metrics', async () => {
    const port = Number(environment.workerEnvironment.DBPLANE_CONTROL_METRICS_PORT);

    const ours = await scrape(port);
    const sdk = await scrape(port + 1);

    expect(ours).toMatch(/dbplane_last_backup_success_timestamp_seconds\{module="usersdb"\} \d+/);
    expect(ours).toMatch(/dbplane_last_restore_check_success_timestamp_seconds\{module="usersdb"\} \d+/);
    expect(ours).toMatch(/dbplane_activity_duration_seconds_count\{activity="configureDatabase"/);
    expect(sdk).toMatch(/temporal_workflow_completed\{[^}]*workflow_type="backupModule"/);
    const hostPort = Number(environment.workerEnvironment.DBPLANE_HOST_METRICS_PORT);
    expect(await scrape(hostPort)).toMatch(
      /dbplane_activity_duration_seconds_count\{activity="takeSnapshot"/,
    );
  });
});
