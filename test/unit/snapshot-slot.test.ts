import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  claimSnapshotSlot,
  holdsSnapshotSlot,
  releaseSnapshotSlot,
  SnapshotSlotBusyError,
} from '../../activities/host/snapshot-slot.js';

let directory: string;

function holdSlot(snapshotId: string, pid: number, takenAt: Date): void {
  writeFileSync(
    path.join(directory, 'current.lock'),
    JSON.stringify({ snapshotId, pid, takenAt: takenAt.toISOString() }),
  );
}

beforeEach(() => {
  directory = mkdtempSync(path.join(tmpdir(), 'dbplane-slot-'));
});

afterEach(() => rmSync(directory, { recursive: true, force: true }));

describe('the snapshot slot', () => {
  it('is taken by one backup, taken again by its retry, and refused to another', async () => {
    await claimSnapshotSlot(directory, 'usersdb', 'first');
    await claimSnapshotSlot(directory, 'usersdb', 'first');

    await expect(claimSnapshotSlot(directory, 'usersdb', 'second')).rejects.toBeInstanceOf(
      SnapshotSlotBusyError,
    );
    await expect(claimSnapshotSlot(directory, 'usersdb', 'second')).rejects.toThrow(
      /another backup of usersdb \(snapshot first, since .*\) is using its snapshot slot/,
    );
  });

  it.each([
    ['whose process is gone', 2 ** 22 + 12_345, new Date()],
    ['older than any backup may run', process.pid, new Date(Date.now() - 7 * 3_600_000)],
  ])('replaces a holder %s', async (_case, pid, takenAt) => {
    holdSlot('abandoned', pid, takenAt);

    await claimSnapshotSlot(directory, 'usersdb', 'next');

    expect(await holdsSnapshotSlot(directory, 'next')).toBe(true);
  });

  it('is released only by its holder', async () => {
    await claimSnapshotSlot(directory, 'usersdb', 'first');

    await releaseSnapshotSlot(directory, 'other');
    expect(existsSync(path.join(directory, 'current.lock'))).toBe(true);

    await releaseSnapshotSlot(directory, 'first');
    expect(existsSync(path.join(directory, 'current.lock'))).toBe(false);
    expect(await holdsSnapshotSlot(directory, 'anyone')).toBe(true);
  });
});
