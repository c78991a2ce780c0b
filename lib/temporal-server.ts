/**
 * The Temporal server dbplane talks to: the one TEMPORAL_ADDRESS names, or a local dev server that
 * dbplane starts once, records under the data root, and reuses for as long as it answers.
 */
import type { Logger } from './logger.js';
import { ensureDevServer } from './temporal-dev-server.js';
import { checkReachable } from './temporal-namespace.js';

/** Where ensureTemporalServer finds or starts its server. */
export interface TemporalServerOptions {
  /** The data root; the dev server's database, log and record live in its temporal/ folder. */
  dataRoot: string;
  /** An existing server (TEMPORAL_ADDRESS). When given, nothing is started. */
  address?: string | undefined;
  /** The namespace that must exist and carry dbplane's search attributes; 'default' if not given. */
  namespace?: string | undefined;
  logger: Logger;
  /** How long a starting dev server may take to answer; 90 seconds if not given. */
  startTimeoutMilliseconds?: number | undefined;
}

/** A Temporal server that answers, and how to stop it if dbplane started it. */
export interface TemporalServer {
  address: string;
  uiUrl?: string | undefined;
  /** True when this call started the server, and so stop() will stop it. */
  started: boolean;
  /** Stops the dev server if this call started it; does nothing otherwise. */
  stop(): Promise<void>;
}

/**
 * Returns a reachable Temporal server: the given address after checking that it answers, else a dev
 * server dbplane started earlier under dataRoot if it still answers, else a newly started one.
 */
export async function ensureTemporalServer(options: TemporalServerOptions): Promise<TemporalServer> {
  const namespace = options.namespace ?? 'default';
  const logger = options.logger.child({ namespace });

  if (options.address) {
    await checkReachable(options.address, namespace, logger);
    logger.info('using the Temporal server from TEMPORAL_ADDRESS', { address: options.address });
    return { address: options.address, started: false, stop: async () => {} };
  }

  const timeout = options.startTimeoutMilliseconds ?? 90_000;
  return ensureDevServer(options.dataRoot, namespace, timeout, logger);
}
