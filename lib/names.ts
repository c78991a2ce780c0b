import { ValidationError } from './errors.js';

/** The five modules of the platform, in the order they are provisioned. */
export const moduleNames = ['usersdb', 'agentsdb', 'modelsdb', 'vectorstore', 'queuedb'] as const;
export type ModuleName = (typeof moduleNames)[number];

/** Modules whose workflows this version implements. */
export const supportedModules: readonly ModuleName[] = ['usersdb'];

const safeNamePattern = /^[a-z][a-z0-9-]{0,39}$/;

/** Accepts only names that are safe as path segments, container names and SQL identifiers. */
export function checkSafeName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !safeNamePattern.test(value)) {
    throw new ValidationError(
      field,
      'a lower-case name of letters, digits and dashes that starts with a letter (at most 40)',
      JSON.stringify(value) ?? String(value),
    );
  }
  return value;
}

/** Accepts one of the platform's module names; anything else names the field and the choices. */
export function checkModuleName(field: string, value: unknown): ModuleName {
  checkSafeName(field, value);
  if (!(moduleNames as readonly string[]).includes(value as string)) {
    throw new ValidationError(field, `one of ${moduleNames.join(', ')}`, JSON.stringify(value));
  }
  return value as ModuleName;
}
