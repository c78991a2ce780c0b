/**
 * The catalog: one small JSON file a module under the data root, recording what dbplane made
 * and the outcome of its last operations. Metrics and `dbplane status` read it.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type ModuleState = 'provisioning' | 'running' | 'failed' | 'removed';

export interface OperationRecord {
  at: string;
  seconds: number;
  snapshotId?: string;
  bytes?: number;
  passed?: boolean;
  workflowId?: string;
}

export interface CatalogEntry {
  module: string;
  host: string;
  state: ModuleState;
  engine: string;
  version: string;
  port: number;
  database: string;
  volumeMode?: string;
  provisionedAt?: string;
  updatedAt: string;
  lastBackup?: OperationRecord;
  lastVerifiedBackup?: OperationRecord;
  lastRestoreCheck?: OperationRecord;
  failures: Record<string, number>;
}

/** Reads a catalog entry, or undefined when the module was never provisioned. */
export async function readCatalogEntry(file: string): Promise<CatalogEntry | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as CatalogEntry;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes an entry atomically: readers see the old or the new file, never half of one. */
export async function writeCatalogEntry(file: string, entry: CatalogEntry): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(entry, null, 2)}\n`);
  await rename(temporary, file);
}

/** Applies change to the current entry (or a fresh one) and writes the result. */
export async function updateCatalogEntry(
  file: string,
  fresh: () => CatalogEntry,
  change: (entry: CatalogEntry) => void,
): Promise<CatalogEntry> {
  const entry = (await readCatalogEntry(file)) ?? fresh();
  change(entry);
  entry.updatedAt = new Date().toISOString();
  await writeCatalogEntry(file, entry);
  return entry;
}

export async function removeCatalogEntry(file: string): Promise<void> {
  await rm(file, { force: true });
}
