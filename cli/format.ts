/**
 * One-line descriptions of command results, for people; --json prints the results themselves.
 */
import { formatBytes } from '../lib/size.js';
import type { BackupModuleResult } from '../workflows/backup-module.js';
import type { ProvisionModuleResult } from '../workflows/provision-module.js';
import type { RestoreCheckResult } from '../workflows/restore-check.js';

function seconds(value: number): string {
  return `${value.toFixed(1)} s`;
}

export function describeProvision(result: ProvisionModuleResult): string {
  const created = result.created.join(', ') || 'nothing new';
  return `provisioned ${result.module} on port ${result.port}, ${result.volumeMode} volume (${created})`;
}

export function describeBackup(result: BackupModuleResult): string {
  const check = result.restoreCheck ? (result.restoreCheck.passed ? 'passed' : 'FAILED') : 'skipped';
  const size = formatBytes(result.bytes);
  const snapshot = result.snapshotId.slice(0, 12);
  return `backup ${snapshot} of ${result.module}: ${size} in ${seconds(result.seconds)}, restore check ${check}`;
}

export function describeRestoreCheck(result: RestoreCheckResult): string {
  const verdict = result.passed ? 'passed' : 'FAILED';
  const counts = `${result.filesMatched} files, ${result.tables} tables, ${result.rows} rows`;
  const snapshot = result.snapshotId.slice(0, 12);
  return `restore check of ${snapshot}: ${verdict} (${counts}, restore ${seconds(result.restoreSeconds)})`;
}
