/**
 * Whether a Temporal server answers and its namespace is ready for dbplane: the namespace exists and
 * carries the search attributes dbplane's workflows set. A dev server dbplane started gets missing
 * attributes added; a server named by TEMPORAL_ADDRESS is not ours to change and only gets a warning.
 */
import { Connection } from '@temporalio/client';

import { ValidationError, whileDoing } from './errors.js';
import type { Logger } from './logger.js';
import { searchAttributeNames } from './search-attributes.js';

// temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD; the proto package is not ours to import.
const keywordIndexedValueType = 2;

const probeTimeoutMilliseconds = 3_000;
const reachableTimeoutMilliseconds = 5_000;

/** Adds whichever of dbplane's search attributes the namespace lacks; returns the names it added. */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const listed = await connection.operatorService.listSearchAttributes({ namespace });
  const existing = listed.customAttributes ?? {};
  const missing: Record<string, number> = {};
  for (const name of searchAttributeNames) {
    const type = existing[name];
    if (type === undefined) {
      missing[name] = keywordIndexedValueType;
    } else if (type !== keywordIndexedValueType) {
      throw new ValidationError(
        `search attribute ${name} in namespace ${namespace}`,
        'type Keyword',
        `indexed value type ${type}`,
      );
    }
  }
  const names = Object.keys(missing);
  if (names.length === 0) return [];

  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  } catch (error) {
    // Another process may have added them between our list and our add; only a real gap is an error.
    const again = await connection.operatorService.listSearchAttributes({ namespace });
    if (names.some((name) => again.customAttributes?.[name] === undefined)) throw error;
  }
  return names;
}

/** Connects with a bounded wait, or returns undefined if nothing answers at address in time. */
async function tryConnect(address: string, timeoutMilliseconds: number): Promise<Connection | undefined> {
  try {
    // connect() already waits for the channel and calls getSystemInfo within connectTimeout.
    return await Connection.connect({ address, connectTimeout: timeoutMilliseconds });
  } catch {
    return undefined;
  }
}

/**
 * Checks that the server at address (TEMPORAL_ADDRESS) answers and has the namespace, and warns
 * about search attributes it lacks.
 */
export async function checkReachable(address: string, namespace: string, logger: Logger): Promise<void> {
  const connection = await tryConnect(address, reachableTimeoutMilliseconds);
  if (!connection) {
    throw new ValidationError(
      'TEMPORAL_ADDRESS',
      `the address of a Temporal server that answers within ${reachableTimeoutMilliseconds / 1000} s`,
      JSON.stringify(address),
    );
  }

  try {
    await describeNamespace(connection, namespace);
    await warnAboutMissingSearchAttributes(connection, namespace, logger);
  } finally {
    await connection.close();
  }
}

/** A server we did not start is not ours to change; say what is missing and how to add it. */
async function warnAboutMissingSearchAttributes(connection: Connection, namespace: string, logger: Logger) {
  let existing: Record<string, unknown>;
  try {
    const listed = await connection.withDeadline(Date.now() + probeTimeoutMilliseconds, () =>
      connection.operatorService.listSearchAttributes({ namespace }),
    );
    existing = listed.customAttributes ?? {};
  } catch (error) {
    logger.debug('could not list search attributes', { error });
    return;
  }

  const missing = searchAttributeNames.filter((name) => existing[name] === undefined);
  if (missing.length === 0) return;

  logger.warn('the Temporal namespace lacks dbplane search attributes; workflows that set them will fail', {
    missing,
    fix:
      'run deploy/temporal/setup-namespace.sh, or for each name: temporal operator search-attribute ' +
      `create --namespace ${namespace} --name <name> --type Keyword`,
  });
}

async function describeNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.withDeadline(Date.now() + probeTimeoutMilliseconds, () =>
      connection.workflowService.describeNamespace({ namespace }),
    );
  } catch (error) {
    throw whileDoing(`looking up Temporal namespace ${namespace} (TEMPORAL_NAMESPACE)`, error);
  }
}

/**
 * Connects to a dev server, checks its namespace and search attributes, and closes again; false when
 * nothing answers at address yet.
 */
export async function prepareDevServer(address: string, namespace: string, logger: Logger): Promise<boolean> {
  const connection = await tryConnect(address, probeTimeoutMilliseconds);
  if (!connection) return false;

  try {
    await describeNamespace(connection, namespace);
    const added = await registerSearchAttributes(connection, namespace);
    if (added.length > 0) logger.info('registered search attributes', { address, added });
    return true;
  } finally {
    await connection.close();
  }
}
