/**
 * The platform spec: one declarative file that says which hosts exist and which modules run on
 * them. Everything dbplane does is derived from it.
 */
import { z } from 'zod';

import { moduleNames } from '../names.js';
import { parseSize } from '../size.js';

const safeName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,39}$/, 'a lower-case name of letters, digits and dashes');

const sqlName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL name of letters, digits and underscores');

const roleName = sqlName.refine(
  (name) => name !== 'postgres' && !name.startsWith('pg_'),
  'a role name other than postgres that does not start with pg_ (PostgreSQL reserves both)',
);

const sizePattern = /^\d+(\.\d+)?\s*(B|KiB|MiB|GiB|TiB)$/;

const size = z.string().regex(sizePattern, 'a size such as 4GiB');

/** The smallest filesystem mkfs.xfs makes; a volume is one XFS filesystem. */
export const minimumVolumeBytes = 300 * 1024 ** 2;

const volumeSize = size.refine(
  (text) => !sizePattern.test(text) || parseSize('size', text) >= minimumVolumeBytes,
  'a size of at least 300MiB (mkfs.xfs makes no smaller filesystem)',
);

const nonEmptyPath = z.string().min(1, 'a non-empty path');

const port = z.number().int().min(1024).max(65535);

interface CronField {
  name: string;
  minimum: number;
  maximum: number;
  /** Three-letter names for the values from `minimum` on, in order. */
  names?: readonly string[];
}

const cronFields: readonly CronField[] = [
  { name: 'minute', minimum: 0, maximum: 59 },
  { name: 'hour', minimum: 0, maximum: 23 },
  { name: 'day of month', minimum: 1, maximum: 31 },
  {
    name: 'month',
    minimum: 1,
    maximum: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day of week', minimum: 0, maximum: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

/** The shorthands Temporal's schedules expand into five fields (`@every` is an interval, not a time). */
const cronShorthands = ['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually'];

const cronPart = /^(?:\*|([0-9]+|[A-Za-z]{3})(?:-([0-9]+|[A-Za-z]{3}))?)(?:\/([0-9]+))?$/;

function cronValue(text: string, field: CronField): number | undefined {
  const nameIndex = field.names?.indexOf(text.toUpperCase()) ?? -1;
  const value = nameIndex >= 0 ? field.minimum + nameIndex : /^[0-9]+$/.test(text) ? Number(text) : NaN;
  return value >= field.minimum && value <= field.maximum ? value : undefined;
}

function isCronFieldValid(text: string, field: CronField): boolean {
  return text.split(',').every((part) => {
    const match = cronPart.exec(part);
    if (!match) return false;

    const [, startText, endText, stepText] = match;
    if (stepText !== undefined && (Number(stepText) < 1 || Number(stepText) > field.maximum)) return false;
    if (startText === undefined) return true;

    const start = cronValue(startText, field);
    if (start === undefined) return false;
    // A step needs a range to step through: "5/10" means different things to different crons.
    if (endText === undefined) return stepText === undefined;

    const end = cronValue(endText, field);
    return end !== undefined && end >= start;
  });
}

/** What a schedule should have been, or undefined when Temporal can run it as it is. */
export function describeCronProblem(expression: string): string | undefined {
  const trimmed = expression.trim();
  if (trimmed.startsWith('@')) {
    return cronShorthands.includes(trimmed)
      ? undefined
      : `a five-field cron expression such as "0 2 * * *", or one of ${cronShorthands.join(', ')}`;
  }

  const fields = trimmed.split(/\s+/);
  if (fields.length !== cronFields.length) {
    return 'a five-field cron expression (minute hour day-of-month month day-of-week) such as "0 2 * * *"';
  }

  const invalid = cronFields.findIndex((field, index) => !isCronFieldValid(fields[index] as string, field));
  if (invalid < 0) return undefined;

  const field = cronFields[invalid] as CronField;
  const names = field.names ? ` or ${field.names[0]}-${field.names[field.names.length - 1]}` : '';
  return (
    `a cron expression whose ${field.name} (field ${invalid + 1}) is * or ${field.minimum}-${field.maximum}` +
    `${names}, as a value, a list a,b, a range a-b or a step */n or a-b/n`
  );
}

const cron = z.string().superRefine((expression, context) => {
  const problem = describeCronProblem(expression);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

/** What a time zone should have been, or undefined when it names one of the IANA database. */
export function describeTimeZoneProblem(timeZone: string): string | undefined {
  const expected = 'an IANA time zone such as UTC or Europe/Berlin';
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch {
    return expected;
  }

  // Intl ignores case but Temporal's server does not: "utc" would only fail once the schedule is made.
  if (resolved !== timeZone && resolved.toLowerCase() === timeZone.toLowerCase()) {
    return `${expected}, spelled ${resolved} (names are case-sensitive)`;
  }
  // An alias such as US/Eastern resolves to another name, so only the capitals can be checked.
  if (!timeZone.split('/').every((segment) => /^[A-Z]/.test(segment))) {
    return `${expected} (names are case-sensitive)`;
  }
  return undefined;
}

const timeZone = z.string().superRefine((value, context) => {
  const problem = describeTimeZoneProblem(value);
  if (problem) context.addIssue({ code: 'custom', message: problem });
});

export const xfsSchema = z.strictObject({
  /** auto: loop-mounted XFS where possible, else a plain directory with a warning. */
  mode: z.enum(['auto', 'loop', 'directory']).default('auto'),
  mountOptions: z
    .array(z.string().regex(/^[a-z0-9=_-]+$/, 'one mount option per entry, such as noatime or allocsize=16m'))
    .default(['noatime', 'largeio', 'inode64', 'allocsize=16m']),
  reflink: z.boolean().default(true),
});

export const hostSchema = z.strictObject({
  name: safeName,
  taskQueue: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/, 'a task queue name of letters, digits, ., _ and - (at most 100)'),
  /** Where this host keeps volumes, secrets, snapshots and backups; defaults to the spec's. */
  dataRoot: nonEmptyPath.optional(),
  /** Address other hosts reach this one's databases at; loopback unless configured. */
  address: z
    .string()
    .regex(/^[A-Za-z0-9.:-]+$/, 'one host name or IP address such as 127.0.0.1')
    .default('127.0.0.1'),
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
  timezone: timeZone.default('UTC'),
  retention: retentionSchema.default({ last: 3, daily: 7, weekly: 4, monthly: 6 }),
  /** A restic repository path; defaults to <dataRoot>/backups/<module>. */
  repository: nonEmptyPath.optional(),
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
  owner: roleName.optional(),
  readWrite: roleName.optional(),
  readOnly: roleName.optional(),
});

/** The three role names of a module, with the defaults for those the spec leaves out. */
export function resolveRoleNames(
  moduleName: string,
  roles: z.infer<typeof roleNamesSchema>,
): { owner: string; readWrite: string; readOnly: string } {
  return {
    owner: roles.owner ?? `${moduleName}_owner`,
    readWrite: roles.readWrite ?? `${moduleName}_app`,
    readOnly: roles.readOnly ?? `${moduleName}_readonly`,
  };
}

const memoryExpectation = '"auto" or a size such as 2GiB';

export const tuningSchema = z.strictObject({
  /** Memory the module may plan for: "auto" takes the host's, or a size such as 2GiB. */
  memory: z
    .string(memoryExpectation)
    .refine((value) => value === 'auto' || sizePattern.test(value), memoryExpectation)
    .default('auto'),
  /** Explicit server settings that win over the computed ones. */
  settings: z
    .record(
      z.string().regex(/^[a-z_][a-z0-9_.]*$/, 'a PostgreSQL setting name such as work_mem'),
      z.union([z.string(), z.number()], 'a setting value: a string or a number, such as 64MB or 100'),
    )
    .default({}),
});

export const moduleSchema = z.strictObject({
  enabled: z.boolean().default(true),
  engine: z.enum(['postgresql', 'pgvector', 'redis', 's3', 'milvus', 'rabbitmq', 'nats']),
  version: z.string().regex(/^[0-9][0-9.]*$/, 'a version number such as 15'),
  host: safeName,
  /** The registry image production hosts run. */
  image: z.string().min(1, 'a non-empty image name such as docker.io/library/postgres:15'),
  /**
   * A local root filesystem to run instead of the image, for hosts that cannot pull images;
   * "/" runs the host's own binaries under a throwaway overlay.
   */
  rootfs: nonEmptyPath.optional(),
  port,
  database: sqlName.optional(),
  volumes: z
    .record(safeName, z.strictObject({ size: volumeSize }))
    .refine((volumes) => Object.keys(volumes).length > 0, 'at least one volume'),
  extensions: z
    .array(
      z
        .string()
        .regex(
          /^[a-z][a-z0-9_-]*$/,
          'an extension name of lower-case letters, digits, _ and -, such as pgcrypto',
        ),
    )
    .default([]),
  roles: roleNamesSchema.default({}),
  tuning: tuningSchema.default({ memory: 'auto', settings: {} }),
  backup: backupPolicySchema.optional(),
});

export const platformSpecSchema = z.strictObject({
  apiVersion: z.literal('dbplane/v1'),
  /** Relative paths are taken from the spec file's folder; DBPLANE_DATA_ROOT overrides it. */
  dataRoot: nonEmptyPath,
  hosts: z.array(hostSchema).min(1),
  modules: z.partialRecord(z.enum(moduleNames), moduleSchema),
});

export type PlatformSpec = z.infer<typeof platformSpecSchema>;
export type HostSpec = z.infer<typeof hostSchema>;
export type ModuleSpec = z.infer<typeof moduleSchema>;
export type BackupPolicy = z.infer<typeof backupPolicySchema>;
export type RetentionPolicy = z.infer<typeof retentionSchema>;
