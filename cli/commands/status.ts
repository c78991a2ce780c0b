/**
 * status: what the catalog says of each module, and the state of its schedules.
 */
import type { Client } from '@temporalio/client';

import { readCatalogEntry, type CatalogEntry } from '../../lib/catalog.js';
import { enabledModules, planModule } from '../../lib/spec/plan.js';
import { containerState } from '../../activities/host/container-driver.js';
import { formatBytes } from '../../lib/size.js';
import type { CommandContext } from '../context.js';

export interface ModuleStatus {
  module: string;
  /** What the catalog recorded at the last operation. */
  state: string;
  /** What the module's container is doing now, read from podman on this host. */
  container: string;
  port?: number;
  lastBackup?: string;
  lastBackupBytes?: number;
  lastVerifiedBackup?: string;
  lastRestoreCheck?: string;
  schedules: { scheduleId: string; paused: boolean; nextRun?: string }[];
}

async function scheduleStates(client: Client | undefined, module: string) {
  if (!client) return [];
  const states = [];
  for (const operation of ['backup', 'restore-check']) {
    const scheduleId = `dbplane-${operation}-${module}`;
    try {
      const description = await client.schedule.getHandle(scheduleId).describe();
      const next = description.info.nextActionTimes[0];
      states.push({
        scheduleId,
        paused: description.state.paused,
        ...(next ? { nextRun: next.toISOString() } : {}),
      });
    } catch {
      // No schedule for this operation.
    }
  }
  return states;
}

/** Collects each enabled module's status. */
export async function collectStatus(
  context: CommandContext,
  client: Client | undefined,
): Promise<ModuleStatus[]> {
  const statuses: ModuleStatus[] = [];
  for (const module of enabledModules(context.spec)) {
    let entry: CatalogEntry | undefined;
    let plan;
    try {
      plan = planModule(context.spec, context.specDirectory, module);
      entry = await readCatalogEntry(plan.paths.catalogFile);
    } catch {
      statuses.push({ module, state: 'not supported yet', container: '-', schedules: [] });
      continue;
    }
    statuses.push({
      module,
      state: entry?.state ?? 'not provisioned',
      container: await containerState(plan.containerName).catch(() => 'unknown'),
      ...(entry ? { port: entry.port } : {}),
      ...(entry?.lastBackup
        ? { lastBackup: entry.lastBackup.at, lastBackupBytes: entry.lastBackup.bytes ?? 0 }
        : {}),
      ...(entry?.lastVerifiedBackup ? { lastVerifiedBackup: entry.lastVerifiedBackup.at } : {}),
      ...(entry?.lastRestoreCheck ? { lastRestoreCheck: entry.lastRestoreCheck.at } : {}),
      schedules: await scheduleStates(client, module),
    });
  }
  return statuses;
}

/** Renders statuses as an aligned table. */
export function formatStatusTable(statuses: ModuleStatus[]): string {
  const header = [
    'MODULE',
    'STATE',
    'CONTAINER',
    'PORT',
    'LAST BACKUP',
    'SIZE',
    'VERIFIED',
    'RESTORE CHECK',
    'SCHEDULES',
  ];
  const rows = statuses.map((status) => [
    status.module,
    status.state,
    status.container,
    status.port ? String(status.port) : '-',
    status.lastBackup ?? '-',
    status.lastBackupBytes ? formatBytes(status.lastBackupBytes) : '-',
    status.lastVerifiedBackup ?? '-',
    status.lastRestoreCheck ?? '-',
    status.schedules
      .map(
        (schedule) => `${schedule.scheduleId.replace('dbplane-', '')}${schedule.paused ? ' (paused)' : ''}`,
      )
      .join(', ') || '-',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
