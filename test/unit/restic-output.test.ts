import { describe, expect, it } from 'vitest';

import { parseBackupLine, parseRestoreLine, parseSnapshots } from '../../activities/host/restic-output.js';

const fullId = '84ce102c79bf1dbcf04fc20abc66a3c5c32ff19e83b7446229c6803d8fd10ff0';

describe('backup output', () => {
  it('turns a status line into a percentage and bytes', () => {
    const line =
      '{"message_type":"status","percent_done":0.5,"total_files":4,"total_bytes":2000,"bytes_done":1000}';

    expect(parseBackupLine(line)).toEqual({ type: 'status', percent: 50, bytesDone: 1000, bytesTotal: 2000 });
  });

  it('reads a first status line of 0.14, which has no bytes done yet', () => {
    const line = '{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":50000000}';

    expect(parseBackupLine(line)).toEqual({ type: 'status', percent: 0, bytesDone: 0, bytesTotal: 50000000 });
  });

  it('reads the summary of 0.18, preferring the packed (compressed) bytes added', () => {
    const line = JSON.stringify({
      message_type: 'summary',
      files_new: 2,
      data_added: 1001402,
      data_added_packed: 1001145,
      total_files_processed: 2,
      total_bytes_processed: 1000003,
      total_duration: 0.73,
      snapshot_id: fullId,
    });

    expect(parseBackupLine(line)).toEqual({
      type: 'summary',
      snapshotId: fullId,
      bytesAdded: 1001145,
      totalBytes: 1000003,
      filesNew: 2,
      totalFiles: 2,
      seconds: 0.73,
    });
  });

  it('reads the summary of 0.14, with its short snapshot id and no packed size', () => {
    const line =
      '{"message_type":"summary","files_new":2,"data_added":1001402,"total_files_processed":2,' +
      '"total_bytes_processed":1000003,"total_duration":0.22,"snapshot_id":"88b718d0"}';

    expect(parseBackupLine(line)).toMatchObject({ snapshotId: '88b718d0', bytesAdded: 1001402 });
  });

  it('reads an error line naming the item that could not be read', () => {
    const line =
      '{"message_type":"error","error":{"message":"permission denied"},"during":"archival","item":"/d/x"}';

    expect(parseBackupLine(line)).toEqual({ type: 'error', item: '/d/x', message: 'permission denied' });
  });

  it.each([[''], ['open repository'], ['{not json'], ['{"message_type":"verbose_status"}'], ['[1]']])(
    'ignores the line %j',
    (line) => {
      expect(parseBackupLine(line)).toBeUndefined();
    },
  );
});

describe('restore output', () => {
  it('turns a status line into a percentage and bytes restored', () => {
    const line =
      '{"message_type":"status","percent_done":0.25,"total_files":4,' +
      '"total_bytes":4000,"bytes_restored":1000}';

    expect(parseRestoreLine(line)).toEqual({ percent: 25, bytesDone: 1000, bytesTotal: 4000, final: false });
  });

  it('reads the summary as the complete restore, whatever it says about percentages', () => {
    const line = '{"message_type":"summary","total_files":4,"total_bytes":4000,"bytes_restored":4000}';

    expect(parseRestoreLine(line)).toEqual({ percent: 100, bytesDone: 4000, bytesTotal: 4000, final: true });
  });

  it.each([[''], ['restoring <Snapshot 84ce102c>'], ['{"message_type":"verbose_status"}'], ['{broken']])(
    'ignores the line %j',
    (line) => {
      expect(parseRestoreLine(line)).toBeUndefined();
    },
  );
});

describe('snapshot lists', () => {
  it('reads restic snapshots --json into our shape', () => {
    const stdout = JSON.stringify([
      {
        time: '2026-12-04T17:19:20.327271801Z',
        paths: ['/tmp/rx/data'],
        hostname: 'h1',
        tags: ['t1', 't2'],
        id: fullId,
        short_id: '84ce102c',
      },
      { time: '2026-12-05T01:00:00+01:00', paths: ['/a'], hostname: 'h2', id: 'ab'.repeat(32) },
    ]);

    expect(parseSnapshots(stdout)).toEqual([
      {
        id: fullId,
        shortId: '84ce102c',
        time: '2026-12-04T17:19:20.327271801Z',
        tags: ['t1', 't2'],
        hostname: 'h1',
        paths: ['/tmp/rx/data'],
      },
      {
        id: 'ab'.repeat(32),
        shortId: 'abababab',
        time: '2026-12-05T01:00:00+01:00',
        tags: [],
        hostname: 'h2',
        paths: ['/a'],
      },
    ]);
  });

  it.each([['[]'], ['[]\n'], ['null'], ['']])('reads %j as no snapshots', (stdout) => {
    expect(parseSnapshots(stdout)).toEqual([]);
  });
});
