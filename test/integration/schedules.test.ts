/**
 * Schedule reconciliation against the real Temporal server: created, left alone, updated with an
 * operator's pause kept, and removed, as the spec changes.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLogger } from '../../lib/logger.js';
import { validateSpec } from '../../lib/spec/load.js';
import type { PlatformSpec } from '../../lib/spec/schema.js';
import { reconcileSchedules } from '../../schedules/reconcile.js';
import { testClient } from '../support/client.js';

const logger = createLogger('test');
let client: Client;

function spec(backup: Record<string, unknown> | undefined): PlatformSpec {
  return validateSpec(
    {
      apiVersion: 'dbplane/v1',
      dataRoot: '/tmp/dbplane-schedules-test',
      hosts: [{ name: 'scheduled', taskQueue: 'dbplane-host-scheduled' }],
      modules: {
        usersdb: {
          engine: 'postgresql',
          version: '15',
          host: 'scheduled',
          image: 'postgres:15',
          port: 55999,
          volumes: { data: { size: '1GiB' } },
          ...(backup ? { backup } : {}),
        },
      },
    },
    'schedules test',
  );
}

beforeAll(async () => {
  client = await testClient();
});

afterAll(async () => {
  await reconcileSchedules(client, spec(undefined), logger).catch(() => undefined);
  await client?.connection.close();
});

describe('reconcileSchedules', () => {
  it('creates a nightly backup and a weekly restore check, and changes nothing when run again', async () => {
    const first = await reconcileSchedules(client, spec({ schedule: '0 2 * * *' }), logger);
    expect(first.created.sort()).toEqual(['dbplane-backup-usersdb', 'dbplane-restore-check-usersdb']);

    const second = await reconcileSchedules(client, spec({ schedule: '0 2 * * *' }), logger);
    expect(second.created).toEqual([]);
    expect(second.updated).toEqual([]);
    expect(second.unchanged.length).toBe(2);

    const description = await client.schedule.getHandle('dbplane-backup-usersdb').describe();
    expect(description.policies.overlap).toBe('SKIP');
    expect(description.policies.catchupWindow).toBe(12 * 3600 * 1000);
    expect(description.action.type === 'startWorkflow' && description.action.workflowType).toBe(
      'backupModule',
    );
  });

  it('updates a changed schedule and keeps an operator pause', async () => {
    await client.schedule.getHandle('dbplane-backup-usersdb').pause('paused by an operator');

    const report = await reconcileSchedules(client, spec({ schedule: '30 3 * * *' }), logger);

    expect(report.updated).toContain('dbplane-backup-usersdb');
    const description = await client.schedule.getHandle('dbplane-backup-usersdb').describe();
    expect(description.state.paused).toBe(true);
    expect(description.spec.calendars?.[0]?.hour).toEqual([{ start: 3, end: 3, step: 1 }]);
  });

  it('removes the schedules of a module whose backup policy is gone', async () => {
    const report = await reconcileSchedules(client, spec(undefined), logger);
    expect(report.removed.sort()).toEqual(['dbplane-backup-usersdb', 'dbplane-restore-check-usersdb']);
  });
});
