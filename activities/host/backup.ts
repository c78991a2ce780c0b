/**
 * Moving a snapshot into the module's restic repository, and keeping the repository healthy:
 * retention and integrity checks.
 */
import { Context } from '@temporalio/activity';

import { decideRetention } from '../../lib/retention.js';
import type { ModulePlan } from '../../lib/spec/plan.js';
import { activityLogger } from '../logging.js';
import { moduleRepository, moduleTags } from './repository.js';
import { backup, check, ensureRepository, forget, listSnapshots, prune, unlockStale } from './restic.js';

export interface BackupResult {
  snapshotId: string;
  bytes: number;
  bytesAdded: number;
  files: number;
  seconds: number;
}

/** Backs up a snapshot's folder with restic, reporting progress as heartbeats. */
export async function backupSnapshot(
  plan: ModulePlan,
  snapshotRoot: string,
  snapshotName: string,
): Promise<BackupResult> {
  const log = activityLogger({ module: plan.module, host: plan.host, snapshot: snapshotName });
  const context = Context.current();
  const repository = moduleRepository(plan, log);

  // The backup itself fails on a wrong password, so the repository's password is not checked twice.
  await ensureRepository(repository, { verifyPassword: false });
  await unlockStale(repository);
  const result = await backup(repository, {
    directory: snapshotRoot,
    tags: [...moduleTags(plan), `snapshot=${snapshotName}`],
    host: plan.host,
    onProgress: (percent: number, bytesDone: number, bytesTotal: number) =>
      context.heartbeat({ phase: 'restic backup', percent, bytesDone, bytesTotal }),
  });

  log.info('backup stored', { ...result });
  return {
    snapshotId: result.snapshotId,
    bytes: result.totalBytes,
    bytesAdded: result.bytesAdded,
    files: result.totalFiles,
    seconds: result.seconds,
  };
}

export interface RetentionResult {
  kept: number;
  forgotten: string[];
}

/** Forgets the module's snapshots that the spec's retention no longer keeps, then prunes. */
export async function applyRetention(plan: ModulePlan): Promise<RetentionResult> {
  const log = activityLogger({ module: plan.module, host: plan.host });
  if (!plan.backup) return { kept: 0, forgotten: [] };
  const repository = moduleRepository(plan, log);

  // A prune or check killed with its worker leaves an exclusive lock that would block this one.
  await unlockStale(repository);
  const snapshots = await listSnapshots(repository, { tags: [`module=${plan.module}`] });
  const decision = decideRetention(snapshots, plan.backup.retention);
  if (decision.forget.length > 0) {
    await forget(repository, decision.forget);
    Context.current().heartbeat({ phase: 'prune' });
    await prune(repository);
  }

  log.info('retention applied', { kept: decision.keep.length, forgotten: decision.forget.length });
  return { kept: decision.keep.length, forgotten: decision.forget };
}

/** Verifies the repository's structure and reads the spec's share of its data. */
export async function checkRepository(plan: ModulePlan): Promise<{ subset: string }> {
  const log = activityLogger({ module: plan.module, host: plan.host });
  const subset = plan.backup?.checkSubset ?? '10%';
  const repository = moduleRepository(plan, log);
  await unlockStale(repository);
  await check(repository, { readDataSubset: subset });
  log.info('repository checked', { subset });
  return { subset };
}
