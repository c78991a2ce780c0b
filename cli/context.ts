/**
 * What every command needs: configuration, the validated spec, and a Temporal client.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { Client, Connection } from '@temporalio/client';

import { readConfig, type Config } from '../lib/config.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { loadSpecFile } from '../lib/spec/load.js';
import { resolveDataRoot } from '../lib/spec/plan.js';
import type { PlatformSpec } from '../lib/spec/schema.js';
import { ensureTemporalServer, type TemporalServer } from '../lib/temporal-server.js';

export interface CommandContext {
  config: Config;
  spec: PlatformSpec;
  specDirectory: string;
  dataRoot: string;
  logger: Logger;
  json: boolean;
}

export interface GlobalOptions {
  json?: boolean;
  spec?: string;
}

/** Reads the configuration and the spec once; a bad spec fails here, before anything starts. */
export function loadContext(options: GlobalOptions): CommandContext {
  if (options.spec) process.env.DBPLANE_SPEC = options.spec;
  const config = readConfig();
  const { spec, directory } = loadSpecFile(config.specFile);
  const hostName = config.hostName ?? spec.hosts[0]?.name ?? 'local';
  return {
    config,
    spec,
    specDirectory: directory,
    dataRoot: resolveDataRoot(spec, directory, hostName),
    logger: createLogger('cli'),
    json: options.json ?? false,
  };
}

/** Temporal cannot be reached, or no server runs for this data root. */
export class TemporalUnavailableError extends Error {
  override readonly name = 'TemporalUnavailableError';
}

function recordedServerAddress(dataRoot: string): string | undefined {
  try {
    const record = JSON.parse(readFileSync(path.join(dataRoot, 'temporal', 'server.json'), 'utf8'));
    return typeof record.address === 'string' ? record.address : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Connects a client to Temporal: TEMPORAL_ADDRESS, else the dev server `dbplane up` runs for this
 * data root. Only `up` may start a dev server; other commands never leave one behind.
 */
export async function connectClient(
  context: CommandContext,
  options: { mayStartServer?: boolean } = {},
): Promise<{ client: Client; server: TemporalServer }> {
  let address = process.env.TEMPORAL_ADDRESS;
  if (!address && !options.mayStartServer) {
    address = recordedServerAddress(context.dataRoot);
    if (!address) {
      throw new TemporalUnavailableError(
        `no Temporal server runs for ${context.dataRoot}: start one with \`dbplane up\`, or set TEMPORAL_ADDRESS`,
      );
    }
  }
  let server: TemporalServer;
  try {
    server = await ensureTemporalServer({
      dataRoot: context.dataRoot,
      address,
      namespace: context.config.namespace,
      logger: context.logger,
    });
  } catch (error) {
    throw new TemporalUnavailableError((error as Error).message, { cause: error });
  }
  context.config.temporalAddress = server.address;
  const connection = await Connection.connect({ address: server.address });
  return { client: new Client({ connection, namespace: context.config.namespace }), server };
}
