/**
 * The schedules the spec asks for: a nightly backup of every module with a backup policy and a
 * weekly restore check. Pure, so the decision can be tested without a server.
 */
import { createHash } from 'node:crypto';

import type { PlatformSpec } from '../lib/spec/schema.js';
import { enabledModules } from '../lib/spec/plan.js';
import { supportedModules } from '../lib/names.js';

export const schedulePrefix = 'dbplane-';

export interface DesiredSchedule {
  scheduleId: string;
  module: string;
  host: string;
  workflowType: 'backupModule' | 'restoreCheck';
  operation: 'backup' | 'restore-check';
  cron: string;
  timezone: string;
  catchupWindow: string;
  /** A digest of everything above, kept on the schedule to tell whether it needs an update. */
  fingerprint: string;
}

/** Lists the schedules that should exist for the spec. */
export function desiredSchedules(spec: PlatformSpec): DesiredSchedule[] {
  const schedules: DesiredSchedule[] = [];
  for (const name of enabledModules(spec)) {
    const module = spec.modules[name];
    if (!module?.backup || !supportedModules.includes(name)) continue;
    const entries = [
      { operation: 'backup', workflowType: 'backupModule', cron: module.backup.schedule },
      { operation: 'restore-check', workflowType: 'restoreCheck', cron: module.backup.restoreCheckSchedule },
    ] as const;
    for (const entry of entries) {
      const base = {
        scheduleId: `${schedulePrefix}${entry.operation}-${name}`,
        module: name,
        host: module.host,
        workflowType: entry.workflowType,
        operation: entry.operation,
        cron: entry.cron,
        timezone: module.backup.timezone,
        catchupWindow: module.backup.catchupWindow,
      };
      schedules.push({
        ...base,
        fingerprint: createHash('sha256').update(JSON.stringify(base)).digest('hex').slice(0, 16),
      });
    }
  }
  return schedules;
}
