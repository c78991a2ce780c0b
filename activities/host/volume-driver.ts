/**
 * Module volumes on a host: one loop-mounted XFS filesystem per volume, so that a volume can be
 * frozen and copied by reflink in a moment, or a plain directory where loop mounts are impossible.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { CommandFailedError, DiskFullError, ValidationError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { runCommand } from '../../lib/process.js';
import type { ModulePaths, ModulePlan } from '../../lib/spec/plan.js';
import { checkMountOptions, detachLoopDevices, unmountPath } from './mount-images.js';
import { isMountPoint, mountEntryAt } from './mount-table.js';
import { resolveHostTool } from './mount-tools.js';

/** What ensureVolume found or made. */
export interface VolumeState {
  mode: 'xfs' | 'directory';
  mountPoint: string;
  /** The image file behind an XFS volume. */
  image?: string;
  /** True when this call made the image (XFS) or the directory (directory mode). */
  created: boolean;
  /** Why an 'auto' volume is a plain directory, or why an existing volume was kept as it is. */
  warning?: string;
}

/** The part of a module plan that says where a volume lives and how it is made. */
export interface VolumePlan {
  paths: Pick<ModulePaths, 'volumeImage' | 'mountPoint'>;
  volume: ModulePlan['volume'];
}

// mkfs.xfs from xfsprogs 5.19 on refuses smaller filesystems.
const minimumXfsBytes = 300 * 1024 * 1024;
const xfsLabelLength = 12;

function loopUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'dbplane is not running as root, which loop mounts need';
  if (!resolveHostTool('mkfs.xfs').includes('/'))
    return 'mkfs.xfs is not installed (Debian package xfsprogs)';
  if (!existsSync('/dev/loop-control')) return 'this host has no loop devices (/dev/loop-control is missing)';
  return undefined;
}

async function holdsFiles(directory: string): Promise<boolean> {
  try {
    return (await readdir(directory)).length > 0;
  } catch {
    return false;
  }
}

function volumeLabel(image: string): string {
  return path
    .basename(image, '.xfs')
    .replace(/[^A-Za-z0-9_-]/g, '')
    .slice(0, xfsLabelLength);
}

async function createSparseFile(file: string, sizeBytes: number): Promise<void> {
  const handle = await open(file, 'wx', 0o600);
  try {
    await handle.truncate(sizeBytes);
  } finally {
    await handle.close();
  }
}

/**
 * An image that was created but never formatted, by a call that died before mkfs finished: no
 * XFS superblock and not a single block written, so formatting it cannot destroy anything.
 */
async function isNeverWrittenImage(image: string): Promise<boolean> {
  const handle = await open(image, 'r');
  try {
    const magic = Buffer.alloc(4);
    await handle.read(magic, 0, 4, 0);
    return magic.toString('latin1') !== 'XFSB' && (await handle.stat()).blocks === 0;
  } finally {
    await handle.close();
  }
}

async function ensureDirectoryVolume(
  mountPoint: string,
  logger: Logger,
  warning: string | undefined,
): Promise<VolumeState> {
  const firstCreated = await mkdir(mountPoint, { recursive: true });
  const state: VolumeState = { mode: 'directory', mountPoint, created: firstCreated !== undefined };
  if (warning) {
    state.warning = warning;
    logger.warn('volume is a plain directory', { mountPoint, warning });
  } else {
    logger.info('directory volume ready', { mountPoint, created: state.created });
  }
  return state;
}

async function ensureLoopVolume(plan: VolumePlan, logger: Logger): Promise<VolumeState> {
  const { volumeImage: image, mountPoint } = plan.paths;
  const made: { imageFolder?: string | undefined; image?: boolean; mountFolder?: string | undefined } = {};
  try {
    made.imageFolder = await mkdir(path.dirname(image), { recursive: true, mode: 0o700 });
    const started = Date.now();
    if (!existsSync(image)) {
      await createSparseFile(image, plan.volume.sizeBytes);
      made.image = true;
    }
    const format = made.image === true || (await isNeverWrittenImage(image));
    if (format) {
      await runCommand(resolveHostTool('mkfs.xfs'), [
        '-q',
        '-m',
        `reflink=${plan.volume.reflink ? 1 : 0}`,
        '-L',
        volumeLabel(image),
        image,
      ]);
      logger.info('volume image created', {
        image,
        sizeBytes: plan.volume.sizeBytes,
        milliseconds: Date.now() - started,
      });
    }

    made.mountFolder = await mkdir(mountPoint, { recursive: true });
    const options = ['loop', ...plan.volume.mountOptions].join(',');
    await runCommand(resolveHostTool('mount'), ['-o', options, image, mountPoint]);
    logger.info('volume mounted', { image, mountPoint, options });
    return { mode: 'xfs', mountPoint, image, created: format };
  } catch (error) {
    // Leave nothing half-made: remove exactly what this call created, never an existing image.
    if (!(await isMountPoint(mountPoint))) {
      if (made.mountFolder) await rm(made.mountFolder, { recursive: true, force: true });
      if (made.image) await rm(image, { force: true });
      if (made.imageFolder) await rm(made.imageFolder, { recursive: true, force: true });
    }
    throw error;
  }
}

function checkVolumePlan(plan: VolumePlan): void {
  checkMountOptions('volume.mountOptions', plan.volume.mountOptions);
  if (plan.volume.mode !== 'directory' && plan.volume.sizeBytes < minimumXfsBytes) {
    throw new ValidationError(
      'volume.sizeBytes',
      `at least ${minimumXfsBytes} bytes (300MiB), the smallest XFS filesystem`,
      String(plan.volume.sizeBytes),
    );
  }
}

/**
 * Makes sure the volume exists and is mounted, creating only what is missing. In 'auto' mode a
 * host that cannot loop-mount XFS gets a plain directory and a warning saying why. What a failed
 * call created is removed again.
 */
export async function ensureVolume(plan: VolumePlan, logger: Logger): Promise<VolumeState> {
  checkVolumePlan(plan);
  const { volumeImage: image, mountPoint } = plan.paths;
  const mode = plan.volume.mode;

  const mounted = await mountEntryAt(mountPoint);
  if (mounted) {
    const xfs = mounted.filesystemType === 'xfs';
    logger.debug('volume already mounted', { mountPoint, filesystemType: mounted.filesystemType });
    return xfs
      ? { mode: 'xfs', mountPoint, image, created: false }
      : { mode: 'directory', mountPoint, created: false };
  }

  if (mode === 'directory') return ensureDirectoryVolume(mountPoint, logger, undefined);

  const imageExists = existsSync(image);
  const unavailable = loopUnavailableReason();
  if (unavailable && (mode === 'loop' || imageExists)) {
    throw new ValidationError(
      'volume.mode',
      imageExists
        ? `a host that can mount the existing volume image ${image}`
        : 'a host that can loop-mount XFS',
      `${mode} on a host where ${unavailable}`,
    );
  }
  if (unavailable) {
    return ensureDirectoryVolume(mountPoint, logger, `loop-mounted XFS unavailable: ${unavailable}`);
  }

  if (!imageExists && (await holdsFiles(mountPoint))) {
    // An earlier run made a directory volume here; mounting an empty filesystem over it would hide the data.
    const reason = `${mountPoint} already holds a directory volume with data and there is no image`;
    if (mode === 'loop')
      throw new ValidationError('volume.mode', 'an empty mount point for a new XFS volume', reason);
    return ensureDirectoryVolume(mountPoint, logger, `${reason}: kept as a plain directory`);
  }

  try {
    return await ensureLoopVolume(plan, logger);
  } catch (error) {
    const fallback = mode === 'auto' && !imageExists && !(error instanceof DiskFullError);
    if (!fallback || !(error instanceof CommandFailedError)) throw error;
    const reason = error.message.split('\n').slice(0, 2).join(': ');
    return ensureDirectoryVolume(mountPoint, logger, `making a loop-mounted XFS volume failed (${reason})`);
  }
}

/** Unmounts the volume and deletes its image and mount point, with all data. Missing parts are fine. */
export async function removeVolume(plan: VolumePlan, logger: Logger): Promise<void> {
  const { volumeImage: image, mountPoint } = plan.paths;
  await unmountPath(mountPoint);

  if (existsSync(image)) {
    await detachLoopDevices(image);
    await rm(image, { force: true });
  }
  // A second mount under the same path would make rm delete its files: check before deleting.
  if (await isMountPoint(mountPoint))
    throw new Error(`${mountPoint} is still a mount point after unmounting it`);
  await rm(mountPoint, { recursive: true, force: true });
  logger.info('volume removed', { image, mountPoint });
}
