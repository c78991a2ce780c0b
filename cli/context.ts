/**
 * What every command needs: configuration, the validated spec, and a Temporal client.
 */
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

/** Finds (or starts) the Temporal server and connects a client to it. */
export async function connectClient(
  context: CommandContext,
): Promise<{ client: Client; server: TemporalServer }> {
  const server = await ensureTemporalServer({
    dataRoot: context.dataRoot,
    address: process.env.TEMPORAL_ADDRESS,
    namespace: context.config.namespace,
    logger: context.logger,
  });
  context.config.temporalAddress = server.address;
  const connection = await Connection.connect({ address: server.address });
  return { client: new Client({ connection, namespace: context.config.namespace }), server };
}
