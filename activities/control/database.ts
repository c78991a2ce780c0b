/**
 * Database-level work on a running module: roles, database, extensions, privileges. Every step
 * checks before it creates, so running it again changes nothing.
 */
import { Context } from '@temporalio/activity';

import { ValidationError } from '../../lib/errors.js';
import { connectToModule, quoteIdentifier, quoteLiteral } from '../../lib/postgres.js';
import { readSecret, type SecretName } from '../../lib/secrets.js';
import type { ModulePlan } from '../../lib/spec/plan.js';
import { activityLogger } from '../logging.js';

export interface DatabaseConfiguration {
  rolesCreated: string[];
  databaseCreated: boolean;
  extensionsCreated: string[];
}

async function ensureRole(
  client: import('pg').Client,
  role: string,
  password: string,
  options: string,
): Promise<boolean> {
  const existing = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  const verb = existing.rowCount ? 'ALTER' : 'CREATE';
  // Passwords are set on every run so that a rotated secret file takes effect.
  await client.query(
    `${verb} ROLE ${quoteIdentifier(role)} WITH LOGIN ${options} PASSWORD ${quoteLiteral(password)}`,
  );
  return !existing.rowCount;
}

/** Creates the module's roles, database and extensions, and grants each role its privileges. */
export async function configureDatabase(plan: ModulePlan): Promise<DatabaseConfiguration> {
  const logger = activityLogger({ module: plan.module, host: plan.host });
  const started = Date.now();
  const roles: [string, SecretName, string][] = [
    [plan.roles.owner, 'owner', 'NOSUPERUSER CREATEROLE NOCREATEDB'],
    [plan.roles.readWrite, 'read-write', 'NOSUPERUSER NOCREATEROLE NOCREATEDB'],
    [plan.roles.readOnly, 'read-only', 'NOSUPERUSER NOCREATEROLE NOCREATEDB'],
  ];
  const result: DatabaseConfiguration = { rolesCreated: [], databaseCreated: false, extensionsCreated: [] };

  const server = await connectToModule(plan);
  try {
    for (const [role, secret, options] of roles) {
      const password = await readSecret(plan.paths.secretsDirectory, secret);
      if (await ensureRole(server, role, password, options)) result.rolesCreated.push(role);
    }
    const database = await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [plan.database]);
    if (!database.rowCount) {
      await server.query(
        `CREATE DATABASE ${quoteIdentifier(plan.database)} OWNER ${quoteIdentifier(plan.roles.owner)} ENCODING 'UTF8'`,
      );
      result.databaseCreated = true;
    }
  } finally {
    await server.end().catch(() => undefined);
  }
  Context.current().heartbeat('roles and database ready');

  const database = await connectToModule(plan, { database: plan.database });
  try {
    for (const extension of plan.extensions) {
      const existing = await database.query('SELECT 1 FROM pg_extension WHERE extname = $1', [extension]);
      if (existing.rowCount) continue;
      const available = await database.query('SELECT 1 FROM pg_available_extensions WHERE name = $1', [
        extension,
      ]);
      if (!available.rowCount) {
        throw new ValidationError(
          `modules.${plan.module}.extensions`,
          'extensions installed on the server',
          `${JSON.stringify(extension)}, which PostgreSQL ${plan.version} on ${plan.host} does not have`,
        );
      }
      await database.query(`CREATE EXTENSION ${quoteIdentifier(extension)}`);
      result.extensionsCreated.push(extension);
    }
    const owner = quoteIdentifier(plan.roles.owner);
    const readWrite = quoteIdentifier(plan.roles.readWrite);
    const readOnly = quoteIdentifier(plan.roles.readOnly);
    const statements = [
      `REVOKE ALL ON DATABASE ${quoteIdentifier(plan.database)} FROM PUBLIC`,
      `GRANT CONNECT ON DATABASE ${quoteIdentifier(plan.database)} TO ${readWrite}, ${readOnly}`,
      `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
      `ALTER SCHEMA public OWNER TO ${owner}`,
      `GRANT USAGE ON SCHEMA public TO ${readWrite}, ${readOnly}`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${readWrite}`,
      `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${readWrite}`,
      `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${readOnly}`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public
         GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${readWrite}`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public
         GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ${readWrite}`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT SELECT ON TABLES TO ${readOnly}`,
    ];
    for (const statement of statements) await database.query(statement);
  } finally {
    await database.end().catch(() => undefined);
  }

  logger.info('database configured', { ...result, milliseconds: Date.now() - started });
  return result;
}
