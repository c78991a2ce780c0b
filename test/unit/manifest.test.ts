import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { compareWithManifest, writeManifest } from '../../activities/host/manifest.js';

let root: string;

function snapshot(files: Record<string, string>): { root: string; data: string } {
  root = mkdtempSync(path.join(tmpdir(), 'dbplane-manifest-'));
  const data = path.join(root, 'pgdata');
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(data, name)), { recursive: true });
    writeFileSync(path.join(data, name), content);
  }
  return { root, data };
}

const header = {
  module: 'usersdb',
  snapshotId: 's1',
  createdAt: '2026-12-04T00:00:00Z',
  startLsn: '0/1',
  stopLsn: '0/2',
};

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('the backup manifest', () => {
  it('lists every file with its size, and matches an unchanged copy', async () => {
    const { root: snapshotRoot, data } = snapshot({
      PG_VERSION: '15\n',
      'base/1/1259': 'rows',
      'global/pg_control': 'x',
    });

    const summary = await writeManifest(snapshotRoot, data, header);
    const comparison = await compareWithManifest(snapshotRoot, data);

    expect(summary).toMatchObject({ files: 3, bytes: 8 });
    expect(comparison).toMatchObject({
      matched: 3,
      missing: [],
      changed: [],
      manifestSha256: summary.sha256,
    });
  });

  it('names the files that are missing or changed in a restore', async () => {
    const { root: snapshotRoot, data } = snapshot({ a: 'one', 'b/c': 'two', d: 'three' });
    await writeManifest(snapshotRoot, data, header);

    rmSync(path.join(data, 'a'));
    writeFileSync(path.join(data, 'b/c'), 'TWO');

    expect(await compareWithManifest(snapshotRoot, data)).toMatchObject({
      matched: 1,
      missing: ['a'],
      changed: ['b/c'],
    });
  });
});
