import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';

import type { TestEnvironment } from './processes.js';

/** The environment global setup started, as the test files see it. */
export function testEnvironment(): TestEnvironment {
  return inject('environment');
}

/** A client of the shared test server; close its connection in afterAll. */
export async function testClient(namespace?: string): Promise<Client> {
  const environment = testEnvironment();
  const connection = await Connection.connect({ address: environment.temporalAddress });
  return new Client({ connection, namespace: namespace ?? environment.namespace });
}
