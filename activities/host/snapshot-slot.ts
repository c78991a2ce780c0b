/**
 * The one snapshot slot of a module. Snapshots are mounted at the same path every time, so that
 * restic finds the previous backup of that path and reads only the files that changed; the slot's
 * lock file keeps two backups of one module from sharing it.
 */
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { processExists } from '../../lib/process.js';

const lockFileName = 'current.lock';
const slotFolderName = 'current';
/** Longer than any backup may run: a holder this old was abandoned (say, its workflow terminated). */
const staleAfterMilliseconds = 6 * 3_600_000;

interface SlotHolder {
  snapshotId: string;
  pid: number;
  takenAt: string;
}

/** Another backup of the module holds the slot; retried, so this backup waits for that one. */
export class SnapshotSlotBusyError extends Error {
  override readonly name = 'SnapshotSlotBusyError';

  constructor(module: string, holder: SlotHolder) {
    super(
      `another backup of ${module} (snapshot ${holder.snapshotId}, since ${holder.takenAt}) is using its ` +
        'snapshot slot; this one retries until that one is done',
    );
  }
}

/** The folder every snapshot of the module is taken in. */
export function snapshotSlotFolder(snapshotsDirectory: string): string {
  return path.join(snapshotsDirectory, slotFolderName);
}

async function readHolder(lockFile: string): Promise<SlotHolder | undefined> {
  try {
    return JSON.parse(await readFile(lockFile, 'utf8')) as SlotHolder;
  } catch {
    return undefined;
  }
}

/**
 * Takes the slot for snapshotId. A retry of the same snapshot takes it again; a holder whose
 * process is gone, or that is older than any backup may run, is replaced.
 */
export async function claimSnapshotSlot(
  snapshotsDirectory: string,
  module: string,
  snapshotId: string,
): Promise<void> {
  await mkdir(snapshotsDirectory, { recursive: true, mode: 0o700 });
  const lockFile = path.join(snapshotsDirectory, lockFileName);
  const mine: SlotHolder = { snapshotId, pid: process.pid, takenAt: new Date().toISOString() };

  try {
    const handle = await open(lockFile, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(mine));
    } finally {
      await handle.close();
    }
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }

  const holder = await readHolder(lockFile);
  const abandoned =
    !holder ||
    holder.snapshotId === snapshotId ||
    !processExists(holder.pid) ||
    Date.now() - Date.parse(holder.takenAt) > staleAfterMilliseconds;
  if (!abandoned) throw new SnapshotSlotBusyError(module, holder);

  const temporary = `${lockFile}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(mine), { mode: 0o600 });
  await rename(temporary, lockFile);
}

/** Whether snapshotId holds the slot, or nobody does. */
export async function holdsSnapshotSlot(snapshotsDirectory: string, snapshotId: string): Promise<boolean> {
  const holder = await readHolder(path.join(snapshotsDirectory, lockFileName));
  return !holder || holder.snapshotId === snapshotId;
}

/** Gives the slot up, if snapshotId holds it. */
export async function releaseSnapshotSlot(snapshotsDirectory: string, snapshotId: string): Promise<void> {
  if (await holdsSnapshotSlot(snapshotsDirectory, snapshotId)) {
    await rm(path.join(snapshotsDirectory, lockFileName), { force: true });
  }
}
