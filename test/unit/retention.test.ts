import { describe, expect, it } from 'vitest';

import { decideRetention, type SnapshotRef } from '../../lib/retention.js';
import type { RetentionPolicy } from '../../lib/spec/schema.js';

const policy = (overrides: Partial<RetentionPolicy> = {}): RetentionPolicy => ({
  last: 1,
  daily: 0,
  weekly: 0,
  monthly: 0,
  ...overrides,
});

/** One snapshot a day at 02:00 UTC from first to last (inclusive), named by its date. */
function dailySnapshots(first: string, last: string): SnapshotRef[] {
  const snapshots: SnapshotRef[] = [];
  for (
    let day = Date.parse(`${first}T02:00:00Z`);
    day <= Date.parse(`${last}T02:00:00Z`);
    day += 86_400_000
  ) {
    const time = new Date(day).toISOString();
    snapshots.push({ id: time.slice(0, 10), time });
  }
  return snapshots;
}

const at = (id: string, time: string): SnapshotRef => ({ id, time });

describe('retention', () => {
  it('keeps nothing and forgets nothing when there are no snapshots', () => {
    expect(decideRetention([], policy({ last: 3, daily: 7 }))).toEqual({ keep: [], forget: [] });
  });

  it.each([
    ['last 3', policy({ last: 3 }), ['03-10', '03-09', '03-08']],
    [
      'daily 7 beside last 1',
      policy({ daily: 7 }),
      ['03-10', '03-09', '03-08', '03-07', '03-06', '03-05', '03-04'],
    ],
    // 2026-03-10 is a Tuesday: this week's newest, then the Sundays that end the weeks before.
    ['weekly 4', policy({ weekly: 4 }), ['03-10', '03-08', '03-01', '02-22']],
    // Only three months hold snapshots, so monthly 6 keeps three.
    ['monthly 6', policy({ monthly: 6 }), ['03-10', '02-28', '01-31']],
    [
      'the default policy (last 3, daily 7, weekly 4, monthly 6)',
      policy({ last: 3, daily: 7, weekly: 4, monthly: 6 }),
      ['03-10', '03-09', '03-08', '03-07', '03-06', '03-05', '03-04', '03-01', '02-28', '02-22', '01-31'],
    ],
  ])('with daily backups since New Year and %s, keeps the expected days', (_case, rules, keptDays) => {
    const snapshots = dailySnapshots('2026-01-01', '2026-03-10');

    const decision = decideRetention(snapshots, rules);

    expect(decision.keep.map((kept) => kept.id)).toEqual(keptDays.map((day) => `2026-${day}`));
    expect(decision.forget).toHaveLength(snapshots.length - keptDays.length);
  });

  it('splits the snapshots into kept and forgotten, each exactly once, newest first', () => {
    const snapshots = dailySnapshots('2025-06-01', '2026-03-10');

    const decision = decideRetention(snapshots, policy({ last: 3, daily: 7, weekly: 4, monthly: 6 }));
    const kept = decision.keep.map((entry) => entry.id);

    expect([...kept, ...decision.forget].sort()).toEqual(snapshots.map((snapshot) => snapshot.id).sort());
    expect(kept).toEqual([...kept].sort().reverse());
    expect(decision.forget).toEqual([...decision.forget].sort().reverse());
  });

  it('decides the same whatever order the snapshots come in', () => {
    const snapshots = dailySnapshots('2026-01-01', '2026-03-10');
    const shuffled = [...snapshots].sort((a, b) => (a.id.slice(-1) < b.id.slice(-1) ? -1 : 1));
    const rules = policy({ last: 3, daily: 7, weekly: 4, monthly: 6 });

    expect(decideRetention(shuffled, rules)).toEqual(decideRetention(snapshots, rules));
  });

  it('keeps the newest snapshot of a day, not the first one taken that day', () => {
    const snapshots = [
      at('nightly-09', '2026-03-09T02:00:00Z'),
      at('nightly-10', '2026-03-10T02:00:00Z'),
      at('manual-10', '2026-03-10T15:00:00Z'),
    ];

    const decision = decideRetention(snapshots, policy({ daily: 2 }));

    expect(decision.keep.map((kept) => kept.id)).toEqual(['manual-10', 'nightly-09']);
    expect(decision.forget).toEqual(['nightly-10']);
  });

  it('gives every reason a snapshot is kept for', () => {
    const decision = decideRetention(
      [at('only', '2026-03-10T02:00:00Z')],
      policy({ last: 3, daily: 7, weekly: 4, monthly: 6 }),
    );

    expect(decision.keep).toEqual([
      { id: 'only', reasons: ['last', 'daily 2026-03-10', 'weekly 2026-W11', 'monthly 2026-03'] },
    ]);
  });

  it.each([
    // ISO weeks start on Monday; week 1 is the week with the year's first Thursday.
    ['2021-01-01T12:00:00Z', 'weekly 2020-W53'],
    ['2021-01-04T12:00:00Z', 'weekly 2021-W01'],
    ['2024-12-30T12:00:00Z', 'weekly 2025-W01'],
    ['2026-01-01T12:00:00Z', 'weekly 2026-W01'],
    ['2027-01-01T12:00:00Z', 'weekly 2026-W53'],
    ['2027-01-03T23:59:59Z', 'weekly 2026-W53'],
    ['2027-01-04T00:00:00Z', 'weekly 2027-W01'],
  ])('puts %s in the ISO week bucket "%s"', (time, reason) => {
    const decision = decideRetention([at('s', time)], policy({ weekly: 1 }));

    expect(decision.keep[0]?.reasons).toContain(reason);
  });

  it('counts weeks that have snapshots, skipping weeks without any', () => {
    const snapshots = [
      at('w11', '2026-03-10T02:00:00Z'),
      at('w08', '2026-02-17T02:00:00Z'),
      at('w02', '2026-01-06T02:00:00Z'),
      at('w01', '2026-01-01T02:00:00Z'),
    ];

    const decision = decideRetention(snapshots, policy({ weekly: 3 }));

    expect(decision.keep.map((kept) => kept.id)).toEqual(['w11', 'w08', 'w02']);
    expect(decision.forget).toEqual(['w01']);
  });

  it('reads restic times with nanoseconds and offsets, bucketing by the UTC calendar day', () => {
    const snapshots = [
      // 00:30 at +01:00 is still the evening before in UTC.
      at('early', '2026-03-01T00:30:00.123456789+01:00'),
      at('late', '2026-02-28T20:00:00.987654321Z'),
    ];

    const decision = decideRetention(snapshots, policy({ last: 1, daily: 1, monthly: 1 }));

    expect(decision.keep).toEqual([
      { id: 'early', reasons: ['last', 'daily 2026-02-28', 'monthly 2026-02'] },
    ]);
    expect(decision.forget).toEqual(['late']);
  });

  it('keeps at least the last snapshots even when no bucket rule keeps anything', () => {
    const snapshots = dailySnapshots('2026-03-01', '2026-03-10');

    const decision = decideRetention(snapshots, policy({ last: 2 }));

    expect(decision.keep.map((kept) => kept.id)).toEqual(['2026-03-10', '2026-03-09']);
    expect(decision.forget).toHaveLength(8);
  });

  it('keeps everything when the policy asks for more than there is', () => {
    const snapshots = dailySnapshots('2026-03-01', '2026-03-03');

    const decision = decideRetention(snapshots, policy({ last: 10, daily: 10, weekly: 10, monthly: 10 }));

    expect(decision.forget).toEqual([]);
    expect(decision.keep).toHaveLength(3);
  });

  it('refuses to decide on a snapshot whose time is not a date', () => {
    const snapshots = [at('good', '2026-03-10T02:00:00Z'), at('bad', 'yesterday')];

    expect(() => decideRetention(snapshots, policy({ daily: 7 }))).toThrow();
  });
});
