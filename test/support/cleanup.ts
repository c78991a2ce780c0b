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
  const names = run('podman', [
    'ps',
    '-a',
    '--filter',
    'label=dbplane.managed=true',
    '--format',
    '{{.Names}}',
  ]);
  for (const name of names.split('\n').filter(Boolean)) {
    // The host side of the container's mounts tells whose it is; `ps` shows only the container side.
    const sources = run('podman', ['inspect', '--format', '{{range .Mounts}}{{.Source}} {{end}}', name]);
    if (sources.includes(root)) run('podman', ['rm', '-f', '-t', '2', name]);
  }
  for (const mountPoint of mountsUnder(root)) {
    run('xfs_freeze', ['-u', mountPoint]);
    run('umount', [mountPoint]);
  }
  for (const line of run('losetup', ['-a']).split('\n')) {
    if (line.includes(root)) run('losetup', ['-d', line.split(':')[0] ?? '']);
  }
}
