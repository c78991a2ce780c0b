/**
 * Grandfather-father-son retention: which backups to keep and which to forget. Pure, so the
 * decision can be tested and shown before anything is deleted. Days, weeks and months are
 * counted in UTC.
 */
import { ValidationError } from './errors.js';
import type { RetentionPolicy } from './spec/schema.js';

export interface SnapshotRef {
  id: string;
  /** ISO 8601 time the snapshot was taken. */
  time: string;
}

export interface RetentionDecision {
  keep: { id: string; reasons: string[] }[];
  forget: string[];
}

type Bucket = 'daily' | 'weekly' | 'monthly';

function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const bucketKey: Record<Bucket, (date: Date) => string> = {
  daily: (date) => date.toISOString().slice(0, 10),
  weekly: isoWeek,
  monthly: (date) => date.toISOString().slice(0, 7),
};

/** Decides, newest first, which snapshots the policy keeps; every other snapshot is forgotten. */
export function decideRetention(
  snapshots: readonly SnapshotRef[],
  policy: RetentionPolicy,
): RetentionDecision {
  for (const [index, snapshot] of snapshots.entries()) {
    if (Number.isNaN(Date.parse(snapshot.time))) {
      throw new ValidationError(
        `snapshots[${index}].time`,
        'an ISO 8601 time',
        JSON.stringify(snapshot.time),
      );
    }
  }
  const newestFirst = [...snapshots].sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  const reasons = new Map<string, string[]>();
  const addReason = (id: string, reason: string) => reasons.set(id, [...(reasons.get(id) ?? []), reason]);

  newestFirst.slice(0, policy.last).forEach((snapshot) => addReason(snapshot.id, 'last'));

  for (const bucket of ['daily', 'weekly', 'monthly'] as const) {
    const limit = policy[bucket];
    const seen = new Set<string>();
    for (const snapshot of newestFirst) {
      if (seen.size >= limit) break;
      const key = bucketKey[bucket](new Date(snapshot.time));
      if (seen.has(key)) continue;
      seen.add(key);
      addReason(snapshot.id, `${bucket} ${key}`);
    }
  }

  return {
    keep: newestFirst
      .filter((snapshot) => reasons.has(snapshot.id))
      .map((snapshot) => ({ id: snapshot.id, reasons: reasons.get(snapshot.id) ?? [] })),
    forget: newestFirst.filter((snapshot) => !reasons.has(snapshot.id)).map((snapshot) => snapshot.id),
  };
}
