/**
 * schedules: list, pause, unpause and trigger the Temporal Schedules dbplane keeps for a module.
 */
import type { Client } from '@temporalio/client';

import { ValidationError } from '../../lib/errors.js';
import { checkModuleName } from '../../lib/names.js';
import { desiredSchedules } from '../../schedules/desired.js';
import type { CommandContext } from '../context.js';

export type ScheduleAction = 'list' | 'pause' | 'unpause' | 'trigger';
export const scheduleActions: readonly ScheduleAction[] = ['list', 'pause', 'unpause', 'trigger'];
export const scheduleOperations = ['backup', 'restore-check'] as const;

export interface ScheduleState {
  scheduleId: string;
  paused: boolean;
  note: string | undefined;
  nextRuns: string[];
  recentRuns: number;
}

function scheduleIds(
  context: CommandContext,
  module: string | undefined,
  operation: string | undefined,
): string[] {
  if (operation !== undefined && !(scheduleOperations as readonly string[]).includes(operation)) {
    throw new ValidationError(
      '--operation',
      `one of ${scheduleOperations.join(', ')}`,
      JSON.stringify(operation),
    );
  }
  if (module !== undefined) checkModuleName('module', module);
  return desiredSchedules(context.spec)
    .filter((schedule) => (module ? schedule.module === module : true))
    .filter((schedule) => (operation ? schedule.operation === operation : true))
    .map((schedule) => schedule.scheduleId);
}

/** Checks the command's words before anything is connected to; returns the schedules they name. */
export function checkScheduleArguments(
  context: CommandContext,
  action: string,
  module: string | undefined,
  operation: string | undefined,
): string[] {
  if (!(scheduleActions as readonly string[]).includes(action)) {
    throw new ValidationError('action', `one of ${scheduleActions.join(', ')}`, JSON.stringify(action));
  }
  const ids = scheduleIds(context, module, operation);
  if (ids.length === 0) {
    throw new ValidationError(
      'module',
      'a module with a backup policy in the spec',
      JSON.stringify(module ?? '(any)'),
    );
  }
  return ids;
}

/** Applies the action to the module's schedules (all of the spec's when no module is given). */
export async function manageSchedules(
  context: CommandContext,
  client: Client,
  action: string,
  module: string | undefined,
  operation: string | undefined,
): Promise<ScheduleState[]> {
  const ids = checkScheduleArguments(context, action, module, operation);

  const states: ScheduleState[] = [];
  for (const scheduleId of ids) {
    const handle = client.schedule.getHandle(scheduleId);
    if (action === 'pause') await handle.pause(`paused with dbplane by ${process.env.USER ?? 'an operator'}`);
    if (action === 'unpause') await handle.unpause('unpaused with dbplane');
    if (action === 'trigger') await handle.trigger();
    const description = await handle.describe();
    states.push({
      scheduleId,
      paused: description.state.paused,
      note: description.state.note,
      nextRuns: description.info.nextActionTimes.slice(0, 3).map((time) => time.toISOString()),
      recentRuns: description.info.recentActions.length,
    });
  }
  return states;
}

/** Renders schedule states as lines for a terminal. */
export function formatSchedules(states: ScheduleState[]): string {
  return states
    .map(
      (state) =>
        `${state.scheduleId}  ${state.paused ? 'paused' : 'active'}  next ${state.nextRuns[0] ?? '-'}`,
    )
    .join('\n');
}
