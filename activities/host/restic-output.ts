/**
 * What restic prints with --json, read into dbplane's shapes: the lines of a running backup or
 * restore, and the snapshot list. Lines the driver does not act on read as undefined.
 */
import type { BackupResult } from './restic.js';

/** One snapshot as `restic snapshots --json` lists it. */
export interface Snapshot {
  id: string;
  shortId: string;
  /** ISO 8601, as restic wrote it (nanoseconds, the backing-up host's offset). */
  time: string;
  tags: string[];
  hostname: string;
  paths: string[];
}

/** A line of `restic backup --json` that the driver acts on. */
export type BackupEvent =
  | { type: 'status'; percent: number; bytesDone: number; bytesTotal: number }
  | ({ type: 'summary' } & Omit<BackupResult, 'seconds'> & { seconds: number | undefined })
  | { type: 'error'; item: string; message: string };

/** A line of `restic restore --json` that reports progress; restic 0.14 prints none. */
export interface RestoreProgress {
  percent: number;
  bytesDone: number;
  bytesTotal: number;
  /** True for the summary line: the restore is complete. */
  final: boolean;
}

function parseJsonObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const numberOf = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) ? value : 0;

/** Reads one stdout line of `restic backup --json`; undefined for lines the driver ignores. */
export function parseBackupLine(line: string): BackupEvent | undefined {
  const record = parseJsonObject(line.trim());
  if (!record) return undefined;

  if (record.message_type === 'status') {
    return {
      type: 'status',
      percent: numberOf(record.percent_done) * 100,
      bytesDone: numberOf(record.bytes_done),
      bytesTotal: numberOf(record.total_bytes),
    };
  }
  if (record.message_type === 'summary' && typeof record.snapshot_id === 'string') {
    return {
      type: 'summary',
      snapshotId: record.snapshot_id,
      // data_added_packed (0.17+) is what the repository grew by after compression.
      bytesAdded: numberOf(record.data_added_packed ?? record.data_added),
      totalBytes: numberOf(record.total_bytes_processed),
      filesNew: numberOf(record.files_new),
      totalFiles: numberOf(record.total_files_processed),
      seconds: typeof record.total_duration === 'number' ? record.total_duration : undefined,
    };
  }
  if (record.message_type === 'error') {
    const error = record.error as { message?: unknown } | undefined;
    return {
      type: 'error',
      item: String(record.item ?? ''),
      message: typeof error?.message === 'string' ? error.message : JSON.stringify(record.error ?? null),
    };
  }
  return undefined;
}

/** Reads one stdout line of `restic restore --json`; undefined for lines that report no progress. */
export function parseRestoreLine(line: string): RestoreProgress | undefined {
  const record = parseJsonObject(line.trim());
  if (record?.message_type !== 'status' && record?.message_type !== 'summary') return undefined;

  const final = record.message_type === 'summary';
  return {
    percent: final ? 100 : numberOf(record.percent_done) * 100,
    bytesDone: numberOf(record.bytes_restored),
    bytesTotal: numberOf(record.total_bytes),
    final,
  };
}

/** Reads the output of `restic snapshots --json`. */
export function parseSnapshots(stdout: string): Snapshot[] {
  const value: unknown = JSON.parse(stdout.trim() || '[]');
  if (value === null) return [];
  if (!Array.isArray(value)) {
    throw new Error(`restic snapshots --json printed ${stdout.slice(0, 80)} instead of a JSON array`);
  }
  return value.map((entry: Record<string, unknown>) => ({
    id: String(entry.id),
    shortId: String(entry.short_id ?? String(entry.id).slice(0, 8)),
    time: String(entry.time),
    tags: Array.isArray(entry.tags) ? entry.tags.map(String) : [],
    hostname: String(entry.hostname ?? ''),
    paths: Array.isArray(entry.paths) ? entry.paths.map(String) : [],
  }));
}
