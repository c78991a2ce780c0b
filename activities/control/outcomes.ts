/**
 * Records what operations made and how they ended, in the catalog and in metrics.
 */
import {
  removeCatalogEntry,
  updateCatalogEntry,
  type CatalogEntry,
  type ModuleState,
} from '../../lib/catalog.js';
import { backupBytes, backupDuration, operationFailures } from '../../lib/metrics.js';
import type { ModulePlan } from '../../lib/spec/plan.js';
import { activityLogger } from '../logging.js';

export type Operation = 'provision' | 'backup' | 'restore-check';

export interface Outcome {
  operation: Operation;
  ok: boolean;
  seconds: number;
  workflowId: string;
  snapshotId?: string;
  bytes?: number;
  /** For a backup: whether its restore check passed. */
  verified?: boolean;
  state?: ModuleState;
  volumeMode?: string;
}

function freshEntry(plan: ModulePlan): () => CatalogEntry {
  return () => ({
    module: plan.module,
    host: plan.host,
    state: 'provisioning',
    engine: plan.engine,
    version: plan.version,
    port: plan.port,
    database: plan.database,
    updatedAt: new Date().toISOString(),
    failures: {},
  });
}

/** Writes an operation's outcome into the module's catalog entry and the metrics. */
export async function recordOutcome(plan: ModulePlan, outcome: Outcome): Promise<CatalogEntry> {
  const now = new Date().toISOString();
  const record = {
    at: now,
    seconds: outcome.seconds,
    workflowId: outcome.workflowId,
    ...(outcome.snapshotId === undefined ? {} : { snapshotId: outcome.snapshotId }),
    ...(outcome.bytes === undefined ? {} : { bytes: outcome.bytes }),
  };

  const entry = await updateCatalogEntry(plan.paths.catalogFile, freshEntry(plan), (current) => {
    current.port = plan.port;
    if (outcome.state) current.state = outcome.state;
    if (outcome.volumeMode) current.volumeMode = outcome.volumeMode;
    if (!outcome.ok) {
      current.failures[outcome.operation] = (current.failures[outcome.operation] ?? 0) + 1;
      return;
    }
    if (outcome.operation === 'provision') current.provisionedAt ??= now;
    if (outcome.operation === 'backup') {
      current.lastBackup = record;
      if (outcome.verified) current.lastVerifiedBackup = record;
    }
    if (outcome.operation === 'restore-check') current.lastRestoreCheck = { ...record, passed: true };
  });

  if (!outcome.ok) operationFailures.inc({ module: plan.module, operation: outcome.operation });
  if (outcome.ok && outcome.operation === 'backup') {
    backupDuration.set({ module: plan.module }, outcome.seconds);
    if (outcome.bytes !== undefined) backupBytes.set({ module: plan.module }, outcome.bytes);
  }
  activityLogger({ module: plan.module, host: plan.host }).info('outcome recorded', { ...outcome });
  return entry;
}

/** Forgets a module that a failed first provisioning undid. */
export async function forgetModule(plan: ModulePlan): Promise<void> {
  await removeCatalogEntry(plan.paths.catalogFile);
}
