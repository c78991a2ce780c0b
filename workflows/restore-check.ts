/**
 * restoreCheck: restores a backup into scratch space, starts a throwaway server on it, compares
 * it with the backup's manifest, records the outcome and tears everything down.
 */
import {
  ApplicationFailure,
  CancellationScope,
  patched,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';

import { operationAttributes } from '../lib/search-attributes.js';
import { control, hostLongSteps } from './activities.js';
import { checkInput, isBadInput, moduleRule } from './input.js';
import { ProgressTracker } from './progress.js';

export interface RestoreCheckInput {
  module: string;
  /** A restic snapshot id; the module's newest backup when left out. */
  snapshotId?: string;
  /** When given, the restored manifest must have exactly this SHA-256. */
  manifestSha256?: string;
  /** When given, the restored server must have replayed WAL at least this far. */
  stopLsn?: string;
}

export interface RestoreCheckResult {
  module: string;
  snapshotId: string;
  passed: boolean;
  problems: string[];
  filesMatched: number;
  tables: number;
  rows: number;
  restoreSeconds: number;
  verifySeconds: number;
  seconds: number;
}

const steps = ['plan', 'restore', 'verify', 'clean up', 'record'];

export async function restoreCheck(input: RestoreCheckInput): Promise<RestoreCheckResult> {
  checkInput<RestoreCheckInput>(input, {
    module: moduleRule,
    snapshotId: {
      type: 'string',
      optional: true,
      pattern: /^[0-9a-f]{8,64}$/,
      expected: 'a restic snapshot id',
    },
    manifestSha256: {
      type: 'string',
      optional: true,
      pattern: /^[0-9a-f]{64}$/,
      expected: 'a SHA-256 in hex',
    },
    stopLsn: {
      type: 'string',
      optional: true,
      pattern: /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/,
      expected: 'an LSN',
    },
  });
  const started = Date.now();
  const progress = new ProgressTracker('restore-check', String(input?.module), steps);
  const plan = await progress.step('plan', () => control.resolveModulePlan(input));
  upsertSearchAttributes(operationAttributes(plan.module, 'restore-check', plan.host));
  const host = hostLongSteps(plan.taskQueue);
  const restoreId = `restore-${uuid4().slice(0, 8)}`;

  let result: RestoreCheckResult;
  try {
    const restored = await progress.step('restore', () =>
      host.restoreSnapshot(plan, restoreId, input.snapshotId),
    );
    const verification = await progress.step('verify', () =>
      host.verifyRestore(plan, restored, {
        ...(input.manifestSha256 ? { manifestSha256: input.manifestSha256 } : {}),
        ...(input.stopLsn ? { stopLsn: input.stopLsn } : {}),
      }),
    );
    result = {
      module: plan.module,
      snapshotId: restored.snapshotId,
      passed: verification.passed,
      problems: verification.problems,
      filesMatched: verification.filesMatched,
      tables: verification.tables,
      rows: verification.rows,
      restoreSeconds: restored.seconds,
      verifySeconds: verification.seconds,
      seconds: (Date.now() - started) / 1000,
    };
  } catch (error) {
    // A snapshot id that does not exist is a typo, not a failed check: it must not raise alerts.
    const badInput = isBadInput(error) && patched('bad-input-is-no-failed-check');
    await CancellationScope.nonCancellable(async () => {
      await host.discardRestore(plan, restoreId);
      if (badInput) return;
      await control.recordOutcome(plan, {
        operation: 'restore-check',
        ok: false,
        seconds: (Date.now() - started) / 1000,
        workflowId: workflowInfo().workflowId,
      });
    });
    throw error;
  }

  await CancellationScope.nonCancellable(() =>
    progress.step('clean up', () => host.discardRestore(plan, restoreId)),
  );
  await progress.step('record', () =>
    control.recordOutcome(plan, {
      operation: 'restore-check',
      ok: result.passed,
      seconds: result.seconds,
      snapshotId: result.snapshotId,
      workflowId: workflowInfo().workflowId,
    }),
  );
  if (!result.passed) {
    progress.finish('failed');
    throw ApplicationFailure.create({
      type: 'RestoreCheckFailed',
      message: `the restore of ${result.snapshotId} does not match its backup: ${result.problems.join('; ')}`,
      nonRetryable: true,
      details: [result],
    });
  }
  progress.finish('done');
  return result;
}
