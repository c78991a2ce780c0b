import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { SpecError } from '../../lib/errors.js';
import { loadSpecFile, validateSpec } from '../../lib/spec/load.js';
import { planModule } from '../../lib/spec/plan.js';
import { minimalDocument, minimalUsersdb } from '../support/spec-fixtures.js';

const specFile = path.join(import.meta.dirname, '..', '..', 'platform.yaml');

function problemsOf(document: unknown): string[] {
  try {
    validateSpec(document, 'test.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(SpecError);
    return (error as SpecError).problems.map((problem) => problem.message);
  }
  throw new Error('the spec was accepted');
}

const validDocument = () => minimalDocument({ usersdb: minimalUsersdb() });

describe('the platform spec', () => {
  it('accepts the default spec and plans usersdb under its data root', () => {
    const { spec, directory } = loadSpecFile(specFile);
    const plan = planModule(spec, directory, 'usersdb');

    expect(plan.taskQueue).toBe('dbplane-host-local');
    expect(plan.paths.dataDirectory.startsWith(plan.paths.dataRoot)).toBe(true);
    expect(plan.extensions).toEqual(['uuid-ossp', 'pgcrypto']);
    expect(plan.volume.sizeBytes).toBe(4 * 1024 ** 3);
  });

  it('fills defaults for what a minimal spec leaves out', () => {
    const spec = validateSpec(validDocument(), 'test.yaml');
    const plan = planModule(spec, '/', 'usersdb');

    expect(plan.roles).toEqual({
      owner: 'usersdb_owner',
      readWrite: 'usersdb_app',
      readOnly: 'usersdb_readonly',
    });
    expect(plan.volume.mountOptions).toEqual(['noatime', 'largeio', 'inode64', 'allocsize=16m']);
    expect(plan.paths.repository).toBe('/srv/dbplane/backups/usersdb');
  });

  it.each([
    [{ dataRoot: 3 }, 'dataRoot: expected a string, received number 3'],
    [{ apiVersion: 'v2' }, 'apiVersion: expected one of "dbplane/v1", received string "v2"'],
    [{ hosts: [] }, 'hosts: expected at least 1 entries, received a list []'],
    [{ extra: true }, 'extra: expected no such key (it is not part of the spec), received boolean true'],
  ])('names the field, the expectation and the value for %j', (change, message) => {
    expect(problemsOf({ ...validDocument(), ...change })).toContain(message);
  });

  it('reports problems inside a module with their full path', () => {
    const document = validDocument();
    Object.assign(document.modules.usersdb, { port: 'fast', engine: 'oracle' });

    const problems = problemsOf(document);

    expect(problems).toContain('modules.usersdb.port: expected a number, received string "fast"');
    expect(
      problems.some((problem) => problem.startsWith('modules.usersdb.engine: expected one of "postgresql"')),
    ).toBe(true);
  });

  it('refuses an unknown module key and a module on an undeclared host', () => {
    const document = validDocument() as ReturnType<typeof validDocument> & {
      modules: Record<string, unknown>;
    };
    document.modules.billingdb = {};
    expect(problemsOf(document)[0]).toMatch(/^modules\.billingdb: expected one of usersdb, agentsdb/);

    const otherHost = validDocument();
    otherHost.modules.usersdb.host = 'remote';
    expect(problemsOf(otherHost)).toContain(
      'modules.usersdb.host: expected one of the hosts local, received "remote"',
    );
  });

  it.each([
    ['../etc', 'module: expected a lower-case name'],
    ['users;rm -rf /', 'module: expected a lower-case name'],
    ['nope', 'module: expected one of usersdb, agentsdb, modelsdb, vectorstore, queuedb, received "nope"'],
  ])('refuses the module name %j with a clear error', (name, message) => {
    const spec = validateSpec(validDocument(), 'test.yaml');
    expect(() => planModule(spec, '/', name)).toThrow(message);
  });

  it('refuses declared modules that this version cannot run yet', () => {
    const { spec, directory } = loadSpecFile(specFile);
    expect(() => planModule(spec, directory, 'agentsdb')).toThrow('module agentsdb is not supported yet');
  });
});

type Fields = Record<string, unknown>;

function withModule(fields: Fields): unknown {
  const document = validDocument();
  Object.assign(document.modules.usersdb, fields);
  return document;
}

function withHost(fields: Fields): unknown {
  const document = validDocument();
  Object.assign(document.hosts[0] as Fields, fields);
  return document;
}

function isAccepted(document: unknown): boolean {
  validateSpec(document, 'test.yaml');
  return true;
}

describe('the platform spec backup policy', () => {
  it.each(['UTC', 'Europe/Berlin', 'America/New_York', 'US/Eastern', 'Etc/GMT+1'])(
    'accepts the time zone %j',
    (timezone) => {
      expect(isAccepted(withModule({ backup: { timezone } }))).toBe(true);
    },
  );

  it.each([
    ['Mars/Olympus', 'an IANA time zone such as UTC or Europe/Berlin, received string "Mars/Olympus"'],
    ['', 'an IANA time zone such as UTC or Europe/Berlin, received string ""'],
    ['utc', 'an IANA time zone such as UTC or Europe/Berlin, spelled UTC (names are case-sensitive)'],
    ['europe/berlin', 'spelled Europe/Berlin (names are case-sensitive)'],
    ['us/eastern', 'an IANA time zone such as UTC or Europe/Berlin (names are case-sensitive)'],
  ])('refuses the time zone %j, which Temporal would not know', (timezone, message) => {
    const problems = problemsOf(withModule({ backup: { timezone } }));

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^modules\.usersdb\.backup\.timezone: expected /);
    expect(problems[0]).toContain(message);
  });

  it.each([
    '0 2 * * *',
    '*/15 * * * *',
    '0 0-6/2 1,15 * *',
    '0 4 * JAN-MAR MON-FRI',
    '30 3 * * sun',
    '0 4 * * 7',
    '59 23 31 12 0',
    ' 0 2  * * * ',
    '@hourly',
    '@daily',
    '@weekly',
    '@monthly',
  ])('accepts the schedule %j for backups and restore checks', (schedule) => {
    const backup = { schedule, restoreCheckSchedule: schedule };
    expect(isAccepted(withModule({ backup }))).toBe(true);
  });

  const fieldProblem = (name: string, position: number, range: string) =>
    `a cron expression whose ${name} (field ${position}) is * or ${range}, ` +
    'as a value, a list a,b, a range a-b or a step */n or a-b/n';
  const fieldCountProblem =
    'a five-field cron expression (minute hour day-of-month month day-of-week) such as "0 2 * * *"';

  it.each([
    ['99 99 * * *', fieldProblem('minute', 1, '0-59')],
    ['0 24 * * *', fieldProblem('hour', 2, '0-23')],
    ['0 2 0 * *', fieldProblem('day of month', 3, '1-31')],
    ['0 2 32 * *', fieldProblem('day of month', 3, '1-31')],
    ['0 2 * 13 *', fieldProblem('month', 4, '1-12 or JAN-DEC')],
    ['0 2 * JUNE *', fieldProblem('month', 4, '1-12 or JAN-DEC')],
    ['0 2 * * 8', fieldProblem('day of week', 5, '0-7 or SUN-SAT')],
    ['0 2 * * MON-XYZ', fieldProblem('day of week', 5, '0-7 or SUN-SAT')],
    ['*/0 * * * *', fieldProblem('minute', 1, '0-59')],
    ['5/10 * * * *', fieldProblem('minute', 1, '0-59')],
    ['30-10 * * * *', fieldProblem('minute', 1, '0-59')],
    ['1,,2 * * * *', fieldProblem('minute', 1, '0-59')],
    ['0 2 * *', fieldCountProblem],
    ['0 0 2 * * *', fieldCountProblem],
    ['', fieldCountProblem],
    ['@every 1h', 'a five-field cron expression such as "0 2 * * *", or one of @hourly, @daily, @midnight'],
    ['@DAILY', 'a five-field cron expression such as "0 2 * * *", or one of @hourly, @daily, @midnight'],
  ])('refuses the schedule %j with the field that is wrong', (schedule, expected) => {
    for (const field of ['schedule', 'restoreCheckSchedule']) {
      const problems = problemsOf(withModule({ backup: { [field]: schedule } }));

      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(`modules.usersdb.backup.${field}: expected ${expected}`);
      expect(problems[0]).toContain(`received string ${JSON.stringify(schedule)}`);
    }
  });
});

describe('the platform spec hosts', () => {
  it('refuses two hosts that share one task queue', () => {
    const document = validDocument();
    document.hosts.push({ name: 'remote', taskQueue: 'dbplane-host-local' });

    expect(problemsOf(document)).toEqual([
      'hosts[1].taskQueue: expected a task queue used by no other host, received "dbplane-host-local"',
    ]);
  });

  it.each([
    [['noatime', 'allocsize=16m'], undefined],
    [['ro,exec'], 'hosts[0].xfs.mountOptions[0]: expected one mount option per entry, such as noatime'],
    [['noatime', 'Largeio'], 'hosts[0].xfs.mountOptions[1]: expected one mount option per entry, such as'],
    [['noatime', ''], 'hosts[0].xfs.mountOptions[1]: expected one mount option per entry, such as'],
  ])('takes the mount options %j one option per entry', (mountOptions, message) => {
    const document = withHost({ xfs: { mountOptions } });

    if (message === undefined) expect(isAccepted(document)).toBe(true);
    else expect(problemsOf(document)[0]).toContain(message);
  });

  it.each([
    [{ dataRoot: '' }, 'hosts[0].dataRoot: expected a non-empty path, received string ""'],
    [{ address: '' }, 'hosts[0].address: expected one host name or IP address such as 127.0.0.1'],
    [{ address: '127.0.0.1,10.0.0.1' }, 'hosts[0].address: expected one host name or IP address'],
    [{ taskQueue: 'a queue' }, 'hosts[0].taskQueue: expected a task queue name of letters, digits'],
  ])('names what a host field should be for %j', (fields, message) => {
    expect(problemsOf(withHost(fields))[0]).toContain(message);
  });
});

describe('the platform spec module fields', () => {
  it.each([
    [{ owner: 'postgres' }, 'owner', '"postgres"'],
    [{ readWrite: 'pg_app' }, 'readWrite', '"pg_app"'],
    [{ readOnly: 'pg_read_all_data' }, 'readOnly', '"pg_read_all_data"'],
  ])('refuses the reserved role names %j', (roles, field, received) => {
    expect(problemsOf(withModule({ roles }))).toEqual([
      `modules.usersdb.roles.${field}: expected a role name other than postgres that does not start with ` +
        `pg_ (PostgreSQL reserves both), received string ${received}`,
    ]);
  });

  it.each([
    [{ owner: 'app', readWrite: 'app' }, 'readWrite: expected a role name different from roles.owner (app)'],
    [
      { readWrite: 'ro', readOnly: 'ro' },
      'readOnly: expected a role name different from roles.readWrite (ro)',
    ],
    [{ owner: 'usersdb_app' }, 'owner: expected a role name different from roles.readWrite (usersdb_app)'],
    [
      { readOnly: 'usersdb_owner' },
      'readOnly: expected a role name different from roles.owner (usersdb_owner)',
    ],
  ])('refuses the roles %j, which name one role twice', (roles, message) => {
    const problems = problemsOf(withModule({ roles }));

    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`modules.usersdb.roles.${message}, received "`);
  });

  it('accepts three different role names of its own', () => {
    const roles = { owner: 'owner_role', readWrite: 'app_role', readOnly: 'report_role' };
    expect(isAccepted(withModule({ roles }))).toBe(true);
  });

  it.each([
    ['299MiB', false],
    ['0.25GiB', false],
    ['1024KiB', false],
    ['300MiB', true],
    ['0.5GiB', true],
    ['4GiB', true],
  ])('takes the volume size %j only from 300MiB up', (size, accepted) => {
    const document = withModule({ volumes: { data: { size } } });

    if (accepted) expect(isAccepted(document)).toBe(true);
    else {
      expect(problemsOf(document)).toEqual([
        'modules.usersdb.volumes.data.size: expected a size of at least 300MiB (mkfs.xfs makes no smaller ' +
          `filesystem), received string ${JSON.stringify(size)}`,
      ]);
    }
  });

  it.each([
    ['listen_addresses', '*', 'it sets listen_addresses from hosts[0].address', 'string "*"'],
    ['port', 5432, 'it sets port from modules.usersdb.port', 'number 5432'],
    ['unix_socket_directories', '/run', 'it puts the server socket in /tmp', 'string "/run"'],
    ['archive_mode', 'on', 'it sets archive_mode to off', 'string "on"'],
  ])('refuses the setting %s, which dbplane manages itself', (key, value, source, received) => {
    const tuning = { settings: { work_mem: '64MB', [key]: value } };

    expect(problemsOf(withModule({ tuning }))).toEqual([
      `modules.usersdb.tuning.settings.${key}: expected a setting dbplane does not manage (${source}), ` +
        `received ${received}`,
    ]);
  });

  it('accepts settings that dbplane leaves to the spec', () => {
    const tuning = { memory: '2GiB', settings: { work_mem: '64MB', max_connections: 200 } };
    expect(isAccepted(withModule({ tuning }))).toBe(true);
  });
});

describe('the platform spec error messages', () => {
  it.each([
    [{ port: 55432.5 }, 'modules.usersdb.port: expected an integer, received number 55432.5'],
    [
      { backup: { retention: { last: 1.5 } } },
      'modules.usersdb.backup.retention.last: expected an integer, received number 1.5',
    ],
    [{ enabled: 'yes' }, 'modules.usersdb.enabled: expected true or false, received string "yes"'],
    [{ volumes: [] }, 'modules.usersdb.volumes: expected a mapping, received a list []'],
    [
      { tuning: { memory: [1, 2] } },
      'modules.usersdb.tuning.memory: expected "auto" or a size such as 2GiB, received a list [1,2]',
    ],
    [
      { tuning: { memory: 'lots' } },
      'modules.usersdb.tuning.memory: expected "auto" or a size such as 2GiB, received string "lots"',
    ],
    [
      { tuning: { settings: { work_mem: [1, 2] } } },
      'modules.usersdb.tuning.settings.work_mem: expected a setting value: a string or a number, such as ' +
        '64MB or 100, received a list [1,2]',
    ],
    [
      { tuning: { settings: { 'Work-Mem': '64MB' } } },
      'modules.usersdb.tuning.settings.Work-Mem: expected a PostgreSQL setting name such as work_mem, ' +
        'received key "Work-Mem"',
    ],
    [
      { image: '' },
      'modules.usersdb.image: expected a non-empty image name such as docker.io/library/postgres:15, ' +
        'received string ""',
    ],
    [{ rootfs: '' }, 'modules.usersdb.rootfs: expected a non-empty path, received string ""'],
    [
      { backup: { repository: '' } },
      'modules.usersdb.backup.repository: expected a non-empty path, received string ""',
    ],
    [
      { extensions: ['pg crypto'] },
      'modules.usersdb.extensions[0]: expected an extension name of lower-case letters, digits, _ and -, ' +
        'such as pgcrypto, received string "pg crypto"',
    ],
    [
      { volumes: { data: { size: 'big' } } },
      'modules.usersdb.volumes.data.size: expected a size such as 4GiB, received string "big"',
    ],
    [
      { database: 'Users' },
      'modules.usersdb.database: expected a lower-case SQL name of letters, digits and underscores, ' +
        'received string "Users"',
    ],
  ])('says in words what %j should have been', (fields, message) => {
    expect(problemsOf(withModule(fields))).toContain(message);
  });

  it('says the data root must be a non-empty path', () => {
    expect(problemsOf({ ...validDocument(), dataRoot: '' })).toEqual([
      'dataRoot: expected a non-empty path, received string ""',
    ]);
  });

  it('never falls back to the schema library’s own wording for a field with a pattern', () => {
    const document = withModule({
      version: 'fifteen',
      host: 'Local',
      database: 'Users',
      extensions: ['Bad!'],
      volumes: { 'Data!': { size: '4 gigabytes' } },
      roles: { owner: 'Owner' },
      tuning: { memory: 'lots', settings: { 'Bad-Key': true } },
      backup: { schedule: 'daily', timezone: 'Mars', checkSubset: 'half', catchupWindow: 'long' },
    }) as { hosts: Fields[] };
    Object.assign(document.hosts[0] as Fields, {
      name: 'Local!',
      taskQueue: '',
      address: '',
      xfs: { mountOptions: ['a,b'] },
    });

    const problems = problemsOf(document);

    expect(problems.length).toBeGreaterThanOrEqual(15);
    for (const problem of problems) {
      expect(problem).toMatch(/^[^:]+: expected [a-z"]/);
      expect(problem).not.toMatch(/format|Invalid|Too (small|big)|matching \//);
    }
  });
});
