/**
 * A real write workload for usersdb: pgbench's tables at a given scale, then a steady stream of
 * its TPC-B-like transactions while other work (a backup) runs.
 */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { execa, type ResultPromise } from 'execa';

import { runCommand } from '../lib/process.js';
import { readSecret } from '../lib/secrets.js';
import type { ModulePlan } from '../lib/spec/plan.js';
import { toolPath } from '../lib/tools.js';
import { withModuleConnection } from '../lib/postgres.js';

async function passwordFile(plan: ModulePlan): Promise<string> {
  const file = path.join(plan.paths.secretsDirectory, 'pgpass');
  const prefix = `${plan.address}:${plan.port}:${plan.database}`;
  const lines = [
    `${prefix}:${plan.roles.owner}:${await readSecret(plan.paths.secretsDirectory, 'owner')}`,
    `${prefix}:${plan.roles.readWrite}:${await readSecret(plan.paths.secretsDirectory, 'read-write')}`,
  ];
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

function connectionArguments(plan: ModulePlan, user: string): string[] {
  return ['--host', plan.address, '--port', String(plan.port), '--username', user];
}

/** Loads pgbench's tables unless they already hold the requested scale; returns the row count. */
export async function loadWorkload(
  plan: ModulePlan,
  scale: number,
): Promise<{ loaded: boolean; accounts: number }> {
  const accounts = await withModuleConnection(plan, { database: plan.database }, async (client) => {
    const exists = await client.query("SELECT to_regclass('public.pgbench_accounts') IS NOT NULL AS present");
    if (!exists.rows[0]?.present) return 0;
    const count = await client.query<{ count: string }>(
      'SELECT count(*)::text AS count FROM pgbench_accounts',
    );
    return Number(count.rows[0]?.count ?? 0);
  });
  if (accounts >= scale * 100_000) return { loaded: false, accounts };

  const pgpass = await passwordFile(plan);
  await runCommand(
    toolPath('pgbench'),
    [
      '--initialize',
      '--scale',
      String(scale),
      '--quiet',
      ...connectionArguments(plan, plan.roles.owner),
      plan.database,
    ],
    { env: { PGPASSFILE: pgpass } },
  );
  return { loaded: true, accounts: scale * 100_000 };
}

/** Rows in pgbench's history table: one a committed transaction. */
export async function committedTransactions(plan: ModulePlan): Promise<number> {
  return await withModuleConnection(plan, { database: plan.database }, async (client) => {
    const count = await client.query<{ count: string }>(
      'SELECT count(*)::text AS count FROM pgbench_history',
    );
    return Number(count.rows[0]?.count ?? 0);
  });
}

export interface RunningWorkload {
  /** Stops the load and waits for pgbench to exit. */
  stop(): Promise<void>;
}

/** Starts pgbench writing as the application role until stopped. */
export async function startWriting(plan: ModulePlan, clients = 4): Promise<RunningWorkload> {
  const pgpass = await passwordFile(plan);
  const child: ResultPromise = execa(
    toolPath('pgbench'),
    [
      '--no-vacuum',
      '--client',
      String(clients),
      '--jobs',
      '2',
      '--time',
      '3600',
      ...connectionArguments(plan, plan.roles.readWrite),
      plan.database,
    ],
    { env: { PGPASSFILE: pgpass }, reject: false, stdin: 'ignore' },
  );
  return {
    stop: async () => {
      child.kill('SIGINT');
      await child;
    },
  };
}
