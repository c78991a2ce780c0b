/**
 * Leaves nothing behind after a test run: containers of the test hosts, mounts and loop devices
 * under the test root.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function run(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** Mount points at or below root, deepest first. */
export function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(root))
    .sort((a, b) => b.length - a.length);
}

/** Removes containers whose volumes live under root, thaws and unmounts everything under it. */
export async function cleanUpDataRoot(root: string): Promise<void> {
  const containers = run('podman', ['ps', '-a', '--format', '{{.Names}} {{.Mounts}}']).split('\n');
  for (const line of containers) {
    const [name] = line.split(' ');
    if (name && line.includes(root)) run('podman', ['rm', '-f', '-t', '2', name]);
  }
  for (const mountPoint of mountsUnder(root)) {
    run('xfs_freeze', ['-u', mountPoint]);
    run('umount', [mountPoint]);
  }
  for (const line of run('losetup', ['-a']).split('\n')) {
    if (line.includes(root)) run('losetup', ['-d', line.split(':')[0] ?? '']);
  }
}
