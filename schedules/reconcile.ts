/**
 * Makes the Temporal Schedules match the spec: creates the missing, updates the changed (keeping
 * an operator's pause), and removes dbplane schedules the spec no longer asks for.
 */
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';

import { moduleNames } from '../lib/names.js';
import { controlTaskQueue } from '../lib/task-queues.js';
import type { Logger } from '../lib/logger.js';
import { operationAttributes } from '../lib/search-attributes.js';
import type { PlatformSpec } from '../lib/spec/schema.js';
import { desiredSchedules, schedulePrefix, type DesiredSchedule } from './desired.js';

export interface ReconcileReport {
  created: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
}

function action(schedule: DesiredSchedule): ScheduleOptionsStartWorkflowAction<never> {
  return {
    type: 'startWorkflow',
    workflowType: schedule.workflowType,
    workflowId: `${schedule.operation}-${schedule.module}-scheduled`,
    taskQueue: controlTaskQueue,
    args: [{ module: schedule.module }],
    memo: { dbplaneFingerprint: schedule.fingerprint },
    typedSearchAttributes: operationAttributes(schedule.module, schedule.operation, schedule.host),
    staticSummary: `scheduled ${schedule.operation} of ${schedule.module}`,
  } as unknown as ScheduleOptionsStartWorkflowAction<never>;
}

function definition(schedule: DesiredSchedule) {
  return {
    spec: { cronExpressions: [schedule.cron], timezone: schedule.timezone },
    action: action(schedule),
    // A backup still running when the next is due is not doubled: the next one is skipped.
    policies: {
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: schedule.catchupWindow,
      pauseOnFailure: false,
    },
  };
}

/** Reconciles the schedules of the spec; running it twice in a row changes nothing the second time. */
export async function reconcileSchedules(
  client: Client,
  spec: PlatformSpec,
  logger: Logger,
): Promise<ReconcileReport> {
  const report: ReconcileReport = { created: [], updated: [], unchanged: [], removed: [] };
  const desired = desiredSchedules(spec);

  for (const schedule of desired) {
    const handle = client.schedule.getHandle(schedule.scheduleId);
    let current;
    try {
      current = await handle.describe();
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    }
    if (!current) {
      await client.schedule.create({
        scheduleId: schedule.scheduleId,
        ...definition(schedule),
        state: { note: `created by dbplane from the platform spec` },
      });
      report.created.push(schedule.scheduleId);
      continue;
    }
    const fingerprint =
      current.action.type === 'startWorkflow' ? current.action.memo?.dbplaneFingerprint : undefined;
    if (fingerprint === schedule.fingerprint) {
      report.unchanged.push(schedule.scheduleId);
      continue;
    }
    await handle.update((previous) => ({
      ...definition(schedule),
      state: { paused: previous.state.paused, note: previous.state.note },
    }));
    report.updated.push(schedule.scheduleId);
  }

  const wanted = new Set(desired.map((schedule) => schedule.scheduleId));
  // Listing is eventually consistent, so the names dbplane would have used are looked up too.
  const candidates = new Set(
    moduleNames.flatMap((module) =>
      ['backup', 'restore-check'].map((operation) => `${schedulePrefix}${operation}-${module}`),
    ),
  );
  for await (const summary of client.schedule.list()) {
    if (summary.scheduleId.startsWith(schedulePrefix)) candidates.add(summary.scheduleId);
  }
  for (const scheduleId of candidates) {
    if (wanted.has(scheduleId)) continue;
    try {
      await client.schedule.getHandle(scheduleId).delete();
      report.removed.push(scheduleId);
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    }
  }

  logger.info('schedules reconciled', { ...report });
  return report;
}
