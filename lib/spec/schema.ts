/**
 * The platform spec: one declarative file that says which hosts exist and which modules run on
 * them. Everything dbplane does is derived from it.
 */
import { z } from 'zod';

import { moduleNames } from '../names.js';

const safeName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,39}$/, 'a lower-case name of letters, digits and dashes');

const sqlName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL name of letters, digits and underscores');

const size = z.string().regex(/^\d+(\.\d+)?\s*(B|KiB|MiB|GiB|TiB)$/, 'a size such as 4GiB');

const cron = z.string().regex(/^(\S+\s+){4}\S+$/, 'a five-field cron expression such as "0 2 * * *"');

const port = z.number().int().min(1024).max(65535);

export const xfsSchema = z.strictObject({
  /** auto: loop-mounted XFS where possible, else a plain directory with a warning. */
  mode: z.enum(['auto', 'loop', 'directory']).default('auto'),
  mountOptions: z
    .array(z.string().regex(/^[a-z0-9=,_-]+$/))
    .default(['noatime', 'largeio', 'inode64', 'allocsize=16m']),
  reflink: z.boolean().default(true),
});

export const hostSchema = z.strictObject({
  name: safeName,
  taskQueue: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'a task queue name'),
  /** Where this host keeps volumes, secrets, snapshots and backups; defaults to the spec's. */
  dataRoot: z.string().min(1).optional(),
  /** Address other hosts reach this one's databases at; loopback unless configured. */
  address: z.string().default('127.0.0.1'),
  xfs: xfsSchema.default({
    mode: 'auto',
    mountOptions: ['noatime', 'largeio', 'inode64', 'allocsize=16m'],
    reflink: true,
  }),
});

export const retentionSchema = z.strictObject({
  /** Every snapshot of the last `last` backups is kept whatever its age. */
  last: z.number().int().min(1).max(1000).default(3),
  daily: z.number().int().min(0).max(1000).default(7),
  weekly: z.number().int().min(0).max(1000).default(4),
  monthly: z.number().int().min(0).max(1000).default(6),
});

export const backupPolicySchema = z.strictObject({
  schedule: cron.default('0 2 * * *'),
  restoreCheckSchedule: cron.default('0 4 * * 0'),
  timezone: z.string().default('UTC'),
  retention: retentionSchema.default({ last: 3, daily: 7, weekly: 4, monthly: 6 }),
  /** A restic repository path; defaults to <dataRoot>/backups/<module>. */
  repository: z.string().min(1).optional(),
  /** How much of the repository's data `restic check` reads after each backup. */
  checkSubset: z
    .string()
    .regex(/^(100|[1-9]\d?(\.\d+)?|0\.\d*[1-9]\d*)%$/, 'a percentage above 0% and at most 100%, such as 10%')
    .default('10%'),
  /** How long a schedule may catch up on runs missed while the platform was down. */
  catchupWindow: z
    .string()
    .regex(/^\d+(s|m|h|d)$/, 'a duration such as 12h')
    .default('12h'),
});

export const roleNamesSchema = z.strictObject({
  owner: sqlName.optional(),
  readWrite: sqlName.optional(),
  readOnly: sqlName.optional(),
});

export const tuningSchema = z.strictObject({
  /** Memory the module may plan for: "auto" takes the host's, or a size such as 2GiB. */
  memory: z.union([z.literal('auto'), size]).default('auto'),
  /** Explicit server settings that win over the computed ones. */
  settings: z.record(z.string().regex(/^[a-z_.]+$/), z.union([z.string(), z.number()])).default({}),
});

export const moduleSchema = z.strictObject({
  enabled: z.boolean().default(true),
  engine: z.enum(['postgresql', 'pgvector', 'redis', 's3', 'milvus', 'rabbitmq', 'nats']),
  version: z.string().regex(/^[0-9][0-9.]*$/, 'a version number such as 15'),
  host: safeName,
  /** The registry image production hosts run. */
  image: z.string().min(1),
  /**
   * A local root filesystem to run instead of the image, for hosts that cannot pull images;
   * "/" runs the host's own binaries under a throwaway overlay.
   */
  rootfs: z.string().min(1).optional(),
  port,
  database: sqlName.optional(),
  volumes: z
    .record(safeName, z.strictObject({ size }))
    .refine((volumes) => Object.keys(volumes).length > 0, 'at least one volume'),
  extensions: z.array(z.string().regex(/^[a-z][a-z0-9_-]*$/)).default([]),
  roles: roleNamesSchema.default({}),
  tuning: tuningSchema.default({ memory: 'auto', settings: {} }),
  backup: backupPolicySchema.optional(),
});

export const platformSpecSchema = z.strictObject({
  apiVersion: z.literal('dbplane/v1'),
  /** Relative paths are taken from the spec file's folder; DBPLANE_DATA_ROOT overrides it. */
  dataRoot: z.string().min(1),
  hosts: z.array(hostSchema).min(1),
  modules: z.partialRecord(z.enum(moduleNames), moduleSchema),
});

export type PlatformSpec = z.infer<typeof platformSpecSchema>;
export type HostSpec = z.infer<typeof hostSchema>;
export type ModuleSpec = z.infer<typeof moduleSchema>;
export type BackupPolicy = z.infer<typeof backupPolicySchema>;
export type RetentionPolicy = z.infer<typeof retentionSchema>;
