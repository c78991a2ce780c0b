/**
 * provision, backup and restore-check: one workflow each, started and followed to its end.
 */
import type { Client } from '@temporalio/client';

import { checkModuleName } from '../../lib/names.js';
import { planModule } from '../../lib/spec/plan.js';
import type { BackupModuleResult } from '../../workflows/backup-module.js';
import type { ProvisionModuleResult } from '../../workflows/provision-module.js';
import type { RestoreCheckResult } from '../../workflows/restore-check.js';
import type { CommandContext } from '../context.js';
import { hasControlWorker, runOperation } from '../operations.js';

/** Checks the module name and that the spec can plan it, before any workflow starts. */
export function checkModule(context: CommandContext, module: string): void {
  checkModuleName('module', module);
  planModule(context.spec, context.specDirectory, module);
}

async function warnWithoutWorkers(context: CommandContext, client: Client): Promise<void> {
  if (!(await hasControlWorker(client, context.config.namespace))) {
    context.logger.warn('no worker polls the control task queue yet: run `dbplane up` or start the workers');
  }
}

export async function provision(context: CommandContext, client: Client, module: string) {
  checkModule(context, module);
  await warnWithoutWorkers(context, client);
  return await runOperation<ProvisionModuleResult>(context, client, 'provisionModule', { module });
}

export async function backup(context: CommandContext, client: Client, module: string, verify: boolean) {
  checkModule(context, module);
  await warnWithoutWorkers(context, client);
  return await runOperation<BackupModuleResult>(context, client, 'backupModule', { module, verify });
}

export async function restoreCheck(
  context: CommandContext,
  client: Client,
  module: string,
  snapshotId?: string,
) {
  checkModule(context, module);
  await warnWithoutWorkers(context, client);
  return await runOperation<RestoreCheckResult>(context, client, 'restoreCheck', {
    module,
    ...(snapshotId ? { snapshotId } : {}),
  });
}
