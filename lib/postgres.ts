/**
 * Connections to a module's PostgreSQL server, authenticated from the module's secret files.
 */
import pg from 'pg';

import { readSecret, type SecretName } from './secrets.js';
import type { ModulePlan } from './spec/plan.js';

export interface ConnectOptions {
  database?: string;
  user?: string;
  secret?: SecretName;
  host?: string;
  port?: number;
  connectTimeoutMilliseconds?: number;
}

/** Opens one connection; the caller ends it. */
export async function connectToModule(plan: ModulePlan, options: ConnectOptions = {}): Promise<pg.Client> {
  const password = await readSecret(plan.paths.secretsDirectory, options.secret ?? 'superuser');
  const client = new pg.Client({
    host: options.host ?? plan.address,
    port: options.port ?? plan.port,
    user: options.user ?? 'postgres',
    database: options.database ?? 'postgres',
    password,
    connectionTimeoutMillis: options.connectTimeoutMilliseconds ?? 10_000,
    application_name: 'dbplane',
  });
  // A server that goes away mid-session must fail the activity, not crash the worker.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Runs fn with a connection and always closes it. */
export async function withModuleConnection<T>(
  plan: ModulePlan,
  options: ConnectOptions,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connectToModule(plan, options);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Quotes an identifier for SQL; names are validated by the spec already, this is the second fence. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a string literal for statements that cannot take parameters, such as CREATE ROLE. */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
