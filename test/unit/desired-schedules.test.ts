import { describe, expect, it } from 'vitest';

import { validateSpec } from '../../lib/spec/load.js';
import { desiredSchedules } from '../../schedules/desired.js';
import { minimalDocument, minimalUsersdb } from '../support/spec-fixtures.js';

function spec(modules: Record<string, unknown>) {
  return validateSpec(minimalDocument(modules), 'test.yaml');
}

const usersdb = minimalUsersdb();

describe('desiredSchedules', () => {
  it('asks for a nightly backup and a weekly restore check of a module with a backup policy', () => {
    const schedules = desiredSchedules(spec({ usersdb: { ...usersdb, backup: {} } }));

    expect(schedules.map((schedule) => [schedule.scheduleId, schedule.workflowType, schedule.cron])).toEqual([
      ['dbplane-backup-usersdb', 'backupModule', '0 2 * * *'],
      ['dbplane-restore-check-usersdb', 'restoreCheck', '0 4 * * 0'],
    ]);
  });

  it.each([
    ['no backup policy', { usersdb }],
    ['a disabled module', { usersdb: { ...usersdb, enabled: false, backup: {} } }],
    [
      'a module not supported yet',
      { agentsdb: { ...usersdb, engine: 'pgvector', version: '16', backup: {} } },
    ],
  ])('asks for none for %s', (_case, modules) => {
    expect(desiredSchedules(spec(modules))).toEqual([]);
  });

  it('changes the fingerprint when the schedule changes, and only then', () => {
    const [first] = desiredSchedules(spec({ usersdb: { ...usersdb, backup: { schedule: '0 2 * * *' } } }));
    const [same] = desiredSchedules(spec({ usersdb: { ...usersdb, backup: { schedule: '0 2 * * *' } } }));
    const [moved] = desiredSchedules(spec({ usersdb: { ...usersdb, backup: { schedule: '0 3 * * *' } } }));

    expect(same?.fingerprint).toBe(first?.fingerprint);
    expect(moved?.fingerprint).not.toBe(first?.fingerprint);
  });
});
