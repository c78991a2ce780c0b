/** The smallest valid spec documents, for tests that change one part of them. */

/** A usersdb module with only the required fields. */
export function minimalUsersdb() {
  return {
    engine: 'postgresql',
    version: '15',
    host: 'local',
    image: 'postgres:15',
    port: 55432,
    volumes: { data: { size: '1GiB' } },
  };
}

/** A spec document with one host, `local`, and the given modules. */
export function minimalDocument<M extends Record<string, unknown>>(modules: M) {
  return {
    apiVersion: 'dbplane/v1',
    dataRoot: '/srv/dbplane',
    hosts: [{ name: 'local', taskQueue: 'dbplane-host-local' }],
    modules,
  };
}
