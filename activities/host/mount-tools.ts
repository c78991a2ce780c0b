/**
 * The host tools that make, mount and freeze filesystems (mount, umount, losetup, mkfs.xfs,
 * xfs_freeze), found by path even where a non-login PATH lacks the sbin folders.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

import { toolPath } from '../../lib/tools.js';

const systemToolDirectories = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Resolves a host tool to a path, also searching the sbin folders that a non-login PATH may lack. */
export function resolveHostTool(name: string): string {
  const configured = toolPath(name);
  if (configured.includes('/')) return configured;

  const searched = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...systemToolDirectories];
  for (const directory of searched) {
    const candidate = path.join(directory, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder.
    }
  }
  return name;
}
