/**
 * backupModule: a consistent snapshot, stored with restic, retention, a repository check, and a
 * restore check. The backup is reported good only after its restore check passed.
 */
import {
  CancellationScope,
  ParentClosePolicy,
  executeChild,
  log,
  patched,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';

import { operationAttributes } from '../lib/search-attributes.js';
import { control, hostLongSteps, hostSteps } from './activities.js';
import { checkInput, moduleRule } from './input.js';
import { ProgressTracker } from './progress.js';
import { restoreCheck, type RestoreCheckResult } from './restore-check.js';

export interface BackupModuleInput {
  module: string;
  /** Run a restore check of the new backup (default true). */
  verify?: boolean;
}

export interface BackupModuleResult {
  module: string;
  snapshotId: string;
  bytes: number;
  bytesAdded: number;
  files: number;
  seconds: number;
  frozenMilliseconds: number;
  forgotten: number;
  restoreCheck: RestoreCheckResult | undefined;
}

const steps = [
  'plan',
  'server running',
  'snapshot',
  'store',
  'release snapshot',
  'check repository',
  'restore check',
  'retention',
  'record',
];

function snapshotName(): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${uuid4().slice(0, 8)}`;
}

export async function backupModule(input: BackupModuleInput): Promise<BackupModuleResult> {
  checkInput<BackupModuleInput>(input, {
    module: moduleRule,
    verify: { type: 'boolean', optional: true, expected: 'true or false' },
  });
  const started = Date.now();
  const progress = new ProgressTracker('backup', String(input?.module), steps);
  const plan = await progress.step('plan', () => control.resolveModulePlan(input));
  upsertSearchAttributes(operationAttributes(plan.module, 'backup', plan.host));
  const host = hostLongSteps(plan.taskQueue);
  const name = snapshotName();
  const verify = input.verify ?? true;

  try {
    let snapshot;
    let stored;
    // Runs with this step keep a stopped or crashed server from failing every snapshot attempt.
    if (patched('backup-starts-stopped-server')) {
      await progress.step('server running', () => hostSteps(plan.taskQueue).startModuleContainer(plan));
    }
    try {
      snapshot = await progress.step('snapshot', () => host.takeSnapshot(plan, name));
      const root = snapshot.root;
      stored = await progress.step('store', () => host.backupSnapshot(plan, root, name));
    } finally {
      await CancellationScope.nonCancellable(() =>
        progress.step('release snapshot', () => host.releaseSnapshot(plan, name)),
      );
    }

    // Retention once ran before the checks; it now waits for them, so an unproven backup never
    // pushes a proven one out of the retention window.
    const retentionAfterChecks = patched('retention-after-checks');
    let retention = retentionAfterChecks
      ? undefined
      : await progress.step('retention', () => host.applyRetention(plan));
    await progress.step('check repository', () => host.checkRepository(plan));

    let checked: RestoreCheckResult | undefined;
    if (verify) {
      const snapshotId = stored.snapshotId;
      checked = await progress.step('restore check', () =>
        executeChild(restoreCheck, {
          workflowId: `${workflowInfo().workflowId}-restore-check`,
          args: [
            {
              module: plan.module,
              snapshotId,
              manifestSha256: snapshot.manifest.sha256,
              stopLsn: snapshot.stopLsn,
            },
          ],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          typedSearchAttributes: operationAttributes(plan.module, 'restore-check', plan.host),
        }),
      );
    } else {
      progress.mark('restore check', 'done');
    }
    retention ??= await progress.step('retention', () => host.applyRetention(plan));

    const seconds = (Date.now() - started) / 1000;
    await progress.step('record', () =>
      control.recordOutcome(plan, {
        operation: 'backup',
        ok: true,
        seconds,
        snapshotId: stored.snapshotId,
        bytes: stored.bytes,
        verified: checked?.passed ?? false,
        workflowId: workflowInfo().workflowId,
      }),
    );
    progress.finish('done');
    log.info('backup done', {
      module: plan.module,
      snapshotId: stored.snapshotId,
      verified: checked?.passed,
    });
    return {
      module: plan.module,
      snapshotId: stored.snapshotId,
      bytes: stored.bytes,
      bytesAdded: stored.bytesAdded,
      files: stored.files,
      seconds,
      frozenMilliseconds: snapshot.frozenMilliseconds,
      forgotten: retention.forgotten.length,
      restoreCheck: checked,
    };
  } catch (error) {
    await CancellationScope.nonCancellable(() =>
      control.recordOutcome(plan, {
        operation: 'backup',
        ok: false,
        seconds: (Date.now() - started) / 1000,
        workflowId: workflowInfo().workflowId,
      }),
    );
    progress.finish('failed');
    throw error;
  }
}
