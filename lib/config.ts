/**
 * Process configuration, read once from the environment into a typed object.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ValidationError } from './errors.js';

function findProjectRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(directory, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'dbplane')
      return directory;
    const parent = path.dirname(directory);
    if (parent === directory)
      throw new Error('cannot find the dbplane project folder above ' + import.meta.url);
    directory = parent;
  }
}

/** The folder that holds package.json; tools and the default spec are found from it. */
export const projectRoot = findProjectRoot();

function port(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) {
    throw new ValidationError(name, 'a port number between 0 and 65535', JSON.stringify(value));
  }
  return parsed;
}

export interface Config {
  specFile: string;
  temporalAddress: string;
  namespace: string;
  /** Our metrics; the SDK's own are served one port above. */
  controlMetricsPort: number;
  hostMetricsPort: number;
  /** Set when this process should only serve one host of the spec. */
  hostName: string | undefined;
}

export function readConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  return {
    specFile: path.resolve(environment.DBPLANE_SPEC ?? path.join(projectRoot, 'platform.yaml')),
    temporalAddress: environment.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: environment.TEMPORAL_NAMESPACE ?? 'default',
    controlMetricsPort: port('DBPLANE_CONTROL_METRICS_PORT', 9470),
    hostMetricsPort: port('DBPLANE_HOST_METRICS_PORT', 9472),
    hostName: environment.DBPLANE_HOST || undefined,
  };
}
