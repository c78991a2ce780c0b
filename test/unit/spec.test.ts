import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { SpecError } from '../../lib/errors.js';
import { loadSpecFile, validateSpec } from '../../lib/spec/load.js';
import { planModule } from '../../lib/spec/plan.js';

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

const validDocument = () => ({
  apiVersion: 'dbplane/v1',
  dataRoot: '/srv/dbplane',
  hosts: [{ name: 'local', taskQueue: 'dbplane-host-local' }],
  modules: {
    usersdb: {
      engine: 'postgresql',
      version: '15',
      host: 'local',
      image: 'postgres:15',
      port: 55432,
      volumes: { data: { size: '1GiB' } },
    },
  },
});

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
