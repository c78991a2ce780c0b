/**
 * Restore checks: a backup is restored into scratch space, started as a throwaway server on a
 * free loopback port, and compared with the manifest it was taken with.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Context } from '@temporalio/activity';

import { ValidationError } from '../../lib/errors.js';
import { connectToModule } from '../../lib/postgres.js';
import { freeLoopbackPort } from '../../lib/ports.js';
import { runCommand } from '../../lib/process.js';
import { readSecret } from '../../lib/secrets.js';
import type { Logger } from '../../lib/logger.js';
import type { ModulePlan } from '../../lib/spec/plan.js';
import { workFolder } from '../../lib/work-folders.js';
import { toolPath } from '../../lib/tools.js';
import { activityLogger } from '../logging.js';
import {
  ContainerExitedError,
  ensureContainerRunning,
  removeContainer,
  waitUntilHealthy,
} from './container-driver.js';
import { compareWithManifest, manifestFileName, type ManifestComparison } from './manifest.js';
import { postgresContainerSpec } from './postgres-container.js';
import { moduleRepository, moduleTags } from './repository.js';
import { listSnapshots, restore } from './restic.js';

export interface RestoredSnapshot {
  restoreId: string;
  snapshotId: string;
  /** The restored snapshot folder: the data directory and the manifest. */
  directory: string;
  seconds: number;
}

function restoreFolder(plan: ModulePlan, restoreId: string): string {
  return workFolder(plan.paths.scratchDirectory, 'restoreId', restoreId);
}

/** Restores the given snapshot, or the module's newest, into a scratch folder. */
export async function restoreSnapshot(
  plan: ModulePlan,
  restoreId: string,
  snapshotId: string | undefined,
): Promise<RestoredSnapshot> {
  const log = activityLogger({ module: plan.module, host: plan.host, restoreId });
  const context = Context.current();
  const repository = moduleRepository(plan, log);
  const started = Date.now();

  let chosen = snapshotId;
  if (!chosen) {
    const snapshots = await listSnapshots(repository, { tags: [moduleTags(plan)[0] as string] });
    const newest = snapshots.sort((a, b) => Date.parse(b.time) - Date.parse(a.time))[0];
    if (!newest)
      throw new ValidationError('snapshotId', `a backup of ${plan.module} to restore`, 'an empty repository');
    chosen = newest.id;
  }

  const folder = restoreFolder(plan, restoreId);
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const directory = await restore(repository, {
    snapshotId: chosen,
    target: folder,
    onProgress: (percent: number) => context.heartbeat({ phase: 'restic restore', percent }),
  });

  const seconds = (Date.now() - started) / 1000;
  log.info('snapshot restored', { snapshotId: chosen, directory, seconds });
  return { restoreId, snapshotId: chosen, directory, seconds };
}

export interface RestoreVerification {
  passed: boolean;
  filesMatched: number;
  problems: string[];
  tables: number;
  rows: number;
  replayedLsn: string;
  manifestSha256: string;
  seconds: number;
}

/** Starts a throwaway server on the restored data and checks it against the manifest. */
export async function verifyRestore(
  plan: ModulePlan,
  restored: RestoredSnapshot,
  expected: { manifestSha256?: string; stopLsn?: string },
): Promise<RestoreVerification> {
  const log = activityLogger({ module: plan.module, host: plan.host, restoreId: restored.restoreId });
  const context = Context.current();
  const started = Date.now();
  const dataDirectory = path.join(restored.directory, 'pgdata');
  const problems: string[] = [];

  const comparison = await compareWithManifest(restored.directory, dataDirectory);
  if (expected.manifestSha256 && comparison.manifestSha256 !== expected.manifestSha256) {
    problems.push(`${manifestFileName} differs from the one the backup wrote`);
  }
  for (const file of comparison.missing.slice(0, 5)) problems.push(`missing file ${file}`);
  for (const file of comparison.changed.slice(0, 5)) problems.push(`changed file ${file}`);
  context.heartbeat({ phase: 'files compared', matched: comparison.matched });

  const port = await freeLoopbackPort();
  const name = `${plan.containerName}-restore-${restored.restoreId}`.slice(0, 60);
  const spec = postgresContainerSpec(plan, {
    name,
    volumeSource: restored.directory,
    port,
    address: '127.0.0.1',
    restartPolicy: 'no',
    labels: { 'dbplane.module': plan.module, 'dbplane.role': 'restore-check' },
    settings: { archive_mode: 'off', shared_buffers: '128MB', max_connections: '20', max_wal_size: '1GB' },
  });

  let tables = 0;
  let rows = 0;
  let replayedLsn = '';
  try {
    await ensureContainerRunning(spec, log);
    try {
      await waitUntilHealthy(name, {
        timeoutMilliseconds: 300_000,
        signal: context.cancellationSignal,
        onAttempt: (attempt: number) => context.heartbeat({ phase: 'recovering', attempt }),
      });
    } catch (error) {
      // A server that refuses the restored data is the finding of this check, not a fault to retry.
      if (!(error instanceof ContainerExitedError)) throw error;
      problems.push(
        `PostgreSQL did not start on the restored data: ${error.message.split('\n').slice(-6).join(' | ')}`,
      );
      return verificationResult(comparison, problems, { tables, rows, replayedLsn }, started, log);
    }

    const server = await connectToModule(plan, { port, host: '127.0.0.1' });
    let databases: string[];
    try {
      const recovery = await server.query<{ recovering: boolean; lsn: string; reached: boolean }>(
        'SELECT pg_is_in_recovery() AS recovering, pg_current_wal_lsn()::text AS lsn, ' +
          "pg_current_wal_lsn() >= COALESCE($1, '0/0')::pg_lsn AS reached",
        [expected.stopLsn ?? null],
      );
      const state = recovery.rows[0];
      replayedLsn = state?.lsn ?? '';
      if (state?.recovering) problems.push('the restored server is still in recovery');
      if (!state?.reached)
        problems.push(`the restored server ends at ${replayedLsn}, before the backup's ${expected.stopLsn}`);
      databases = (
        await server.query<{ datname: string }>(
          'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate',
        )
      ).rows.map((row) => row.datname);
    } finally {
      await server.end().catch(() => undefined);
    }

    for (const database of databases) {
      const client = await connectToModule(plan, { port, host: '127.0.0.1', database });
      try {
        const relations = await client.query<{ name: string }>(
          "SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables ORDER BY 1",
        );
        for (const relation of relations.rows) {
          const count = await client.query<{ count: string }>(
            `SELECT count(*)::text AS count FROM ${relation.name}`,
          );
          rows += Number(count.rows[0]?.count ?? 0);
          tables += 1;
        }
      } finally {
        await client.end().catch(() => undefined);
      }
      context.heartbeat({ phase: 'tables read', database, tables });
    }

    const passwordFile = path.join(restoreFolder(plan, restored.restoreId), 'pgpass');
    await writeFile(
      passwordFile,
      `127.0.0.1:${port}:*:postgres:${await readSecret(plan.paths.secretsDirectory, 'superuser')}\n`,
      { mode: 0o600 },
    );
    await chmod(passwordFile, 0o600);
    try {
      await runCommand(
        toolPath('pg_amcheck'),
        [
          '--host=127.0.0.1',
          `--port=${port}`,
          '--username=postgres',
          '--all',
          '--install-missing',
          '--no-password',
        ],
        { env: { PGPASSFILE: passwordFile }, signal: context.cancellationSignal },
      );
    } catch (error) {
      problems.push(
        `pg_amcheck found corruption: ${(error as Error).message.split('\n').slice(-3).join(' ')}`,
      );
    } finally {
      await rm(passwordFile, { force: true });
    }
  } finally {
    await removeContainer(name).catch((error: Error) =>
      log.warn('could not remove restore container', { error }),
    );
  }

  return verificationResult(comparison, problems, { tables, rows, replayedLsn }, started, log);
}

function verificationResult(
  comparison: ManifestComparison,
  problems: string[],
  server: { tables: number; rows: number; replayedLsn: string },
  started: number,
  log: Logger,
): RestoreVerification {
  const result: RestoreVerification = {
    passed: problems.length === 0,
    filesMatched: comparison.matched,
    problems,
    ...server,
    manifestSha256: comparison.manifestSha256,
    seconds: (Date.now() - started) / 1000,
  };
  log.info('restore verified', { ...result });
  return result;
}

/** Deletes a restore's scratch folder. */
export async function discardRestore(plan: ModulePlan, restoreId: string): Promise<void> {
  await rm(restoreFolder(plan, restoreId), { recursive: true, force: true });
}
