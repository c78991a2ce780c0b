/**
 * Image files on loop devices: mounting one read-write, unmounting whatever a path holds along
 * with the loop device behind it, and copying an image file.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

import { CommandFailedError, ValidationError } from '../../lib/errors.js';
import { runCommand } from '../../lib/process.js';
import { isMountPoint, mountEntryAt, realPathOrUndefined } from './mount-table.js';
import { resolveHostTool } from './mount-tools.js';

const mountOptionPattern = /^[a-z0-9=_-]+$/;
const unmountBusyWaitMilliseconds = 5_000;

/** Checks mount options as mount(8) takes them; the error names field. */
export function checkMountOptions(field: string, options: readonly string[]): void {
  for (const option of options) {
    if (!mountOptionPattern.test(option)) {
      throw new ValidationError(
        field,
        'mount options of letters, digits, "=", "_" and "-"',
        JSON.stringify(option),
      );
    }
  }
}

async function loopBackingFile(source: string): Promise<string | undefined> {
  const device = /^\/dev\/(loop\d+)$/.exec(source)?.[1];
  if (!device) return undefined;
  try {
    const file = await readFile(`/sys/block/${device}/loop/backing_file`, 'utf8');
    return file.trim().replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

/** Detaches every loop device that the image file is attached to. */
export async function detachLoopDevices(image: string): Promise<void> {
  const real = (await realPathOrUndefined(image)) ?? image;
  const losetup = resolveHostTool('losetup');
  const { stdout } = await runCommand(losetup, ['--associated', real]);
  const devices = stdout
    .split('\n')
    .map((line) => /^(\/dev\/loop\d+):/.exec(line)?.[1])
    .filter((device): device is string => device !== undefined);
  for (const device of devices) {
    try {
      await runCommand(losetup, ['--detach', device]);
    } catch (error) {
      // The kernel's autoclear may detach it between the listing and this call.
      if (!/No such device/i.test(error instanceof Error ? error.message : '')) throw error;
    }
  }
}

function isBusyFailure(error: unknown): boolean {
  return error instanceof CommandFailedError && /target is busy|device is busy|EBUSY/i.test(error.message);
}

/**
 * Unmounts whatever is mounted at mountPoint and detaches the loop device behind it. Nothing
 * mounted is fine. A busy target is retried until it is released or a few seconds have passed.
 */
export async function unmountPath(mountPoint: string): Promise<void> {
  const entry = await mountEntryAt(mountPoint);
  if (!entry) return;

  const backingFile = await loopBackingFile(entry.source);
  const umount = resolveHostTool('umount');
  const deadline = Date.now() + unmountBusyWaitMilliseconds;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await runCommand(umount, [entry.mountPoint]);
      break;
    } catch (error) {
      if (!(await isMountPoint(entry.mountPoint))) break;
      if (!isBusyFailure(error) || Date.now() >= deadline) throw error;
      // A process that just ended (a stopped container, a finished copy) may still hold the mount:
      // try again until it lets go, backing off.
      await delay(Math.min(50 * 2 ** attempt, 500));
    }
  }

  if (backingFile) await detachLoopDevices(backingFile);
}

/**
 * Mounts an image file read-write, typically a copy of a volume's image. The copy has the same
 * filesystem UUID as the live volume, which XFS refuses unless told nouuid.
 */
export async function mountImageReadWrite(
  image: string,
  mountPoint: string,
  options: readonly string[] = [],
): Promise<void> {
  checkMountOptions('options', options);
  const existing = await mountEntryAt(mountPoint);
  if (existing) {
    const backingFile = await loopBackingFile(existing.source);
    if (backingFile !== undefined && backingFile === (await realPathOrUndefined(image))) return;
    throw new ValidationError(
      'mountPoint',
      `a folder where nothing is mounted, to mount ${image}`,
      `${mountPoint} with ${existing.source} mounted on it`,
    );
  }

  await mkdir(mountPoint, { recursive: true });
  await runCommand(resolveHostTool('mount'), [
    '-o',
    ['loop', 'nouuid', ...options].join(','),
    image,
    mountPoint,
  ]);
}

/**
 * Copies an image file, by reflink where the filesystem shares blocks and keeping holes either
 * way; a partial copy is removed when the copy fails. Running out of space raises DiskFullError.
 */
export async function copyImageFile(source: string, target: string, signal?: AbortSignal): Promise<void> {
  try {
    await runCommand('cp', ['--reflink=auto', '--sparse=always', source, target], signal ? { signal } : {});
  } catch (error) {
    await rm(target, { force: true });
    throw error;
  }
}
