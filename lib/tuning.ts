/**
 * PostgreSQL settings scaled to the memory a module may use. The reference point is a 32 GiB host
 * running max_connections=500, shared_buffers=16GB and work_mem=64MB.
 */
const gibibyte = 1024 ** 3;
const mebibyte = 1024 ** 2;
const referenceMemory = 32 * gibibyte;

function megabytes(bytes: number): string {
  return `${Math.max(1, Math.floor(bytes / mebibyte))}MB`;
}

/** Server settings for a PostgreSQL module given the bytes of memory it may plan for. */
export function postgresTuning(memoryBytes: number): Record<string, string> {
  const share = memoryBytes / referenceMemory;
  const maxConnections = Math.max(50, Math.min(500, Math.round(500 * share)));
  const sharedBuffers = Math.max(128 * mebibyte, Math.round(16 * gibibyte * share));
  const workMemory = Math.max(4 * mebibyte, Math.round(64 * mebibyte * share));
  const maintenanceWorkMemory = Math.max(64 * mebibyte, Math.min(2 * gibibyte, Math.round(memoryBytes / 16)));
  const effectiveCacheSize = Math.round(memoryBytes * 0.75);
  return {
    max_connections: String(maxConnections),
    shared_buffers: megabytes(sharedBuffers),
    work_mem: megabytes(workMemory),
    maintenance_work_mem: megabytes(maintenanceWorkMemory),
    effective_cache_size: megabytes(effectiveCacheSize),
    wal_level: 'replica',
    max_wal_size: '2GB',
    checkpoint_completion_target: '0.9',
  };
}
