/**
 * An application-consistent snapshot of a PostgreSQL module: backup start, a frozen copy of the
 * volume, thaw, backup stop, then the backup label and the WAL that makes the copy consistent.
 */
import { chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Context } from '@temporalio/activity';

import { connectToModule } from '../../lib/postgres.js';
import { runCommand } from '../../lib/process.js';
import type { ModulePlan } from '../../lib/spec/plan.js';
import { workFolder } from '../../lib/work-folders.js';
import { activityLogger } from '../logging.js';
import { freezeFilesystem } from './freeze.js';
import { writeManifest, type ManifestSummary } from './manifest.js';
import { copyImageFile, mountImageReadWrite, unmountPath } from './mount-images.js';
import { isMountPoint } from './mount-table.js';
import { postgresUser } from './postgres-container.js';
import {
  claimSnapshotSlot,
  holdsSnapshotSlot,
  releaseSnapshotSlot,
  snapshotSlotFolder,
} from './snapshot-slot.js';

const maximumFrozenMilliseconds = 60_000;
const walFilePattern = /^[0-9A-F]{24}$/;

export interface Snapshot {
  id: string;
  mode: 'xfs' | 'directory';
  /** The folder that is backed up: the data directory and the manifest. */
  root: string;
  dataDirectory: string;
  image?: string;
  startLsn: string;
  stopLsn: string;
  frozenMilliseconds: number;
  copyMilliseconds: number;
  manifest: ManifestSummary;
}

function snapshotFolder(plan: ModulePlan, snapshotId: string): string {
  // The id is checked even though the folder does not carry it: it names the backup everywhere else.
  workFolder(plan.paths.snapshotsDirectory, 'snapshotId', snapshotId);
  return snapshotSlotFolder(plan.paths.snapshotsDirectory);
}

async function copyWal(live: string, copy: string, firstFile: string, lastFile: string): Promise<number> {
  const names = (await readdir(live)).filter(
    (name) => walFilePattern.test(name) && name >= firstFile && name <= lastFile,
  );
  if (names.length === 0) return 0;
  // cp -a keeps the owner and mode PostgreSQL needs on the restored files.
  await runCommand('cp', ['-a', ...names.map((name) => path.join(live, name)), copy]);
  return names.length;
}

/** Takes a consistent snapshot of the module's data while the server keeps running. */
export async function takeSnapshot(plan: ModulePlan, snapshotId: string): Promise<Snapshot> {
  const log = activityLogger({ module: plan.module, host: plan.host, snapshotId });
  const context = Context.current();
  const folder = snapshotFolder(plan, snapshotId);
  const xfs = await isMountPoint(plan.paths.mountPoint);
  const image = path.join(folder, 'volume.xfs');
  const root = xfs ? path.join(folder, 'mount') : path.join(folder, 'copy');
  const dataDirectory = path.join(root, path.relative(plan.paths.mountPoint, plan.paths.dataDirectory));
  const phases: Record<string, number> = {};
  let phaseStarted = Date.now();
  const endPhase = (name: string) => {
    phases[name] = Date.now() - phaseStarted;
    phaseStarted = Date.now();
    context.heartbeat({ phase: name });
  };

  await claimSnapshotSlot(plan.paths.snapshotsDirectory, plan.module, snapshotId);
  // A retried attempt starts from nothing: what an earlier attempt left is incomplete.
  await releaseSnapshotFolder(folder);
  await mkdir(folder, { recursive: true, mode: 0o700 });

  const session = await connectToModule(plan);
  let frozenMilliseconds = 0;
  let startLsn: string;
  let stop: { lsn: string; labelfile: string; spcmapfile: string; walfile: string };
  try {
    const label = `dbplane ${plan.module} ${snapshotId}`;
    const begin = await session.query<{ lsn: string }>('SELECT pg_backup_start($1, true)::text AS lsn', [
      label,
    ]);
    startLsn = begin.rows[0]?.lsn ?? '';
    endPhase('backup start');

    if (xfs) {
      const frozen = await freezeFilesystem(plan.paths.mountPoint, {
        maximumFrozenMilliseconds,
        logger: log,
      });
      const frozenAt = Date.now();
      try {
        await copyImageFile(plan.paths.volumeImage, image, context.cancellationSignal);
      } finally {
        await frozen.thaw();
        frozenMilliseconds = Date.now() - frozenAt;
      }
      endPhase('frozen copy');
      await mkdir(root, { recursive: true });
      await mountImageReadWrite(image, root, ['noatime']);
    } else {
      log.warn('volume is a plain directory: copying without a filesystem freeze', {
        mountPoint: plan.paths.mountPoint,
      });
      await mkdir(root, { recursive: true });
      await runCommand('cp', ['-a', '--reflink=auto', plan.paths.dataDirectory, root], {
        signal: context.cancellationSignal,
      });
      endPhase('copy');
    }

    const end = await session.query<{ lsn: string; labelfile: string; spcmapfile: string; walfile: string }>(
      'SELECT lsn::text AS lsn, labelfile, spcmapfile, pg_walfile_name(lsn) AS walfile FROM pg_backup_stop(false)',
    );
    const row = end.rows[0];
    if (!row) throw new Error('pg_backup_stop returned no row');
    stop = row;
    endPhase('backup stop');
  } finally {
    await session.end().catch(() => undefined);
  }

  const firstWal = /START WAL LOCATION: .* \(file ([0-9A-F]{24})\)/.exec(stop.labelfile)?.[1];
  if (!firstWal) throw new Error('the backup label names no start WAL file');
  const owner = postgresUser(plan);
  const labels: [string, string][] = [['backup_label', stop.labelfile]];
  if (stop.spcmapfile) labels.push(['tablespace_map', stop.spcmapfile]);
  for (const [name, content] of labels) {
    const file = path.join(dataDirectory, name);
    await writeFile(file, content, { mode: 0o600 });
    await chown(file, owner.uid, owner.gid);
  }
  await rm(path.join(dataDirectory, 'postmaster.pid'), { force: true });
  await rm(path.join(dataDirectory, 'postmaster.opts'), { force: true });
  const walFiles = await copyWal(
    path.join(plan.paths.dataDirectory, 'pg_wal'),
    path.join(dataDirectory, 'pg_wal'),
    firstWal,
    stop.walfile,
  );
  endPhase('label and wal');

  const manifest = await writeManifest(
    root,
    dataDirectory,
    { module: plan.module, snapshotId, createdAt: new Date().toISOString(), startLsn, stopLsn: stop.lsn },
    (count) => {
      if (count % 200 === 0) context.heartbeat({ phase: 'manifest', files: count });
    },
  );
  endPhase('manifest');

  log.info('snapshot taken', {
    mode: xfs ? 'xfs' : 'directory',
    startLsn,
    stopLsn: stop.lsn,
    walFiles,
    frozenMilliseconds,
    phases,
    files: manifest.files,
    bytes: manifest.bytes,
  });
  return {
    id: snapshotId,
    mode: xfs ? 'xfs' : 'directory',
    root,
    dataDirectory,
    ...(xfs ? { image } : {}),
    startLsn,
    stopLsn: stop.lsn,
    frozenMilliseconds,
    copyMilliseconds: phases['frozen copy'] ?? phases.copy ?? 0,
    manifest,
  };
}

async function releaseSnapshotFolder(folder: string): Promise<void> {
  const mount = path.join(folder, 'mount');
  if (await isMountPoint(mount)) await unmountPath(mount);
  await rm(folder, { recursive: true, force: true });
}

/** Unmounts and deletes a snapshot; safe to call for one that is already gone. */
export async function releaseSnapshot(plan: ModulePlan, snapshotId: string): Promise<void> {
  const folder = snapshotFolder(plan, snapshotId);
  // The slot may belong to another backup by now (this one failed before it took it): leave that one be.
  if (!(await holdsSnapshotSlot(plan.paths.snapshotsDirectory, snapshotId))) return;
  await releaseSnapshotFolder(folder);
  await releaseSnapshotSlot(plan.paths.snapshotsDirectory, snapshotId);
  activityLogger({ module: plan.module, host: plan.host, snapshotId }).info('snapshot released');
}
