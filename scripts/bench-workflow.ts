/**
 * The workflow the backup benchmark times: the store step of backupModule on its own, so that the
 * benchmark measures what a real backup pays for Temporal, the host activity and the restic driver.
 */
import type { BackupResult } from '../activities/host/backup.js';
import type { ModulePlan } from '../lib/spec/plan.js';
import { hostLongSteps } from '../workflows/activities.js';

/** Backs up directory into the plan's repository through the host activity backupSnapshot. */
export async function benchStoreSnapshot(
  plan: ModulePlan,
  directory: string,
  name: string,
): Promise<BackupResult> {
  return hostLongSteps(plan.taskQueue).backupSnapshot(plan, directory, name);
}
