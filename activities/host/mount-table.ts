/**
 * The mounts this process sees, read from /proc/self/mountinfo: what is mounted at a path, and
 * which filesystem holds it.
 */
import { readFile, realpath } from 'node:fs/promises';

/** One line of /proc/self/mountinfo. */
export interface MountEntry {
  mountPoint: string;
  source: string;
  filesystemType: string;
  /** Per-mount options, such as rw and noatime. */
  mountOptions: string[];
  /** Options of the filesystem itself, such as largeio and allocsize. */
  superOptions: string[];
}

function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function parseMountLine(line: string): MountEntry | undefined {
  const [mounted, filesystem] = line.split(' - ');
  if (!mounted || !filesystem) return undefined;

  const mountedFields = mounted.split(' ');
  const [filesystemType, source, superOptions] = filesystem.split(' ');
  const mountPoint = mountedFields[4];
  if (!mountPoint || !filesystemType || source === undefined) return undefined;
  return {
    mountPoint: unescapeMountField(mountPoint),
    source: unescapeMountField(source),
    filesystemType,
    mountOptions: (mountedFields[5] ?? '').split(','),
    superOptions: (superOptions ?? '').split(','),
  };
}

/** The mounts this process sees, in mount order. */
export async function readMountTable(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map(parseMountLine)
    .filter((entry): entry is MountEntry => entry !== undefined);
}

/** The real path of target with all links resolved, or undefined when it does not exist. */
export async function realPathOrUndefined(target: string): Promise<string | undefined> {
  try {
    return await realpath(target);
  } catch {
    return undefined;
  }
}

/** The topmost mount at exactly this path, or undefined when nothing is mounted there. */
export async function mountEntryAt(target: string): Promise<MountEntry | undefined> {
  const real = await realPathOrUndefined(target);
  if (real === undefined) return undefined;
  return (await readMountTable()).filter((entry) => entry.mountPoint === real).at(-1);
}

/** True when a filesystem is mounted at exactly this path. */
export async function isMountPoint(target: string): Promise<boolean> {
  return (await mountEntryAt(target)) !== undefined;
}

/** The type of the filesystem that holds target, such as 'xfs' or 'ext4'. */
export async function filesystemType(target: string): Promise<string> {
  const real = await realpath(target);
  let best: MountEntry | undefined;
  for (const entry of await readMountTable()) {
    const prefix = entry.mountPoint === '/' ? '/' : `${entry.mountPoint}/`;
    const holds = real === entry.mountPoint || real.startsWith(prefix);
    if (holds && (best === undefined || entry.mountPoint.length >= best.mountPoint.length)) best = entry;
  }
  if (!best) throw new Error(`no mount holds ${real} in /proc/self/mountinfo`);
  return best.filesystemType;
}
