/**
 * Reads a platform spec from YAML, validates it, and resolves every derived value (paths, task
 * queues, role names) once, so the rest of the code never re-derives them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { parseDocument } from 'yaml';
import type { z } from 'zod';

import { SpecError, ValidationError } from '../errors.js';
import { moduleNames } from '../names.js';
import { platformSpecSchema, resolveRoleNames, type ModuleSpec, type PlatformSpec } from './schema.js';

type Issue = z.core.$ZodIssue;

/** Zod's own messages begin so; any other message was written in the schema and says what is expected. */
const defaultMessagePrefixes = ['Invalid', 'Too small', 'Too big', 'Unrecognized'];

const typeNames: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  int: 'an integer',
  boolean: 'true or false',
};

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list ${JSON.stringify(value).slice(0, 80)}`;
  if (typeof value === 'object') return `an object with keys ${Object.keys(value).join(', ') || '(none)'}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(document: unknown, pathSegments: readonly PropertyKey[]): unknown {
  let current: unknown = document;
  for (const segment of pathSegments) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function fieldName(pathSegments: readonly PropertyKey[]): string {
  if (pathSegments.length === 0) return '(top level)';
  return pathSegments
    .map((segment, index) =>
      typeof segment === 'number' ? `[${segment}]` : `${index ? '.' : ''}${String(segment)}`,
    )
    .join('');
}

function expectation(issue: Issue): string {
  if (!defaultMessagePrefixes.some((prefix) => issue.message.startsWith(prefix))) return issue.message;

  switch (issue.code) {
    case 'invalid_type':
      return typeNames[issue.expected] ?? `a ${issue.expected}`;
    case 'invalid_value':
      return `one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `at least ${String(issue.minimum)} entries`
        : `at least ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'array'
        ? `at most ${String(issue.maximum)} entries`
        : `at most ${String(issue.maximum)}`;
    case 'invalid_format':
      return issue.pattern ? `a value matching ${issue.pattern}` : `a valid ${issue.format}`;
    case 'invalid_union': {
      const choices = issue.errors.flatMap((alternative) => (alternative[0] ? [alternative[0]] : []));
      return choices.length ? [...new Set(choices.map(expectation))].join(' or ') : issue.message;
    }
    case 'invalid_key':
      return 'a known key';
    default:
      return issue.message;
  }
}

/** Turns schema issues into problems that name the field, what was expected and what was found. */
export function describeIssues(document: unknown, issues: readonly Issue[]): ValidationError[] {
  const problems: ValidationError[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const isModuleKey = issue.path.length === 1 && issue.path[0] === 'modules';
      const expected = isModuleKey
        ? `one of ${moduleNames.join(', ')}`
        : 'no such key (it is not part of the spec)';
      for (const key of issue.keys) {
        const field = fieldName([...issue.path, key]);
        problems.push(
          new ValidationError(field, expected, describeValue(valueAt(document, [...issue.path, key]))),
        );
      }
      continue;
    }
    if (issue.code === 'invalid_key') {
      const key = issue.path[issue.path.length - 1];
      const choices = issue.issues.flatMap((inner) => (inner.code === 'invalid_value' ? inner.values : []));
      const inner = issue.issues[0];
      const expected = choices.length
        ? `one of ${choices.join(', ')}`
        : inner
          ? expectation(inner)
          : 'a known key';
      problems.push(new ValidationError(fieldName(issue.path), expected, `key ${JSON.stringify(key)}`));
      continue;
    }
    problems.push(
      new ValidationError(
        fieldName(issue.path),
        expectation(issue),
        describeValue(valueAt(document, issue.path)),
      ),
    );
  }
  return problems;
}

/**
 * Server settings dbplane sets itself, and where it takes each from; a spec that set them too would
 * be overridden or would break what dbplane relies on.
 */
function managedSettingSources(moduleName: string, hostIndex: number): Record<string, string> {
  const addressField = hostIndex >= 0 ? `hosts[${hostIndex}].address` : "its host's address";
  return {
    listen_addresses: `it sets listen_addresses from ${addressField}`,
    port: `it sets port from modules.${moduleName}.port`,
    unix_socket_directories: 'it puts the server socket in /tmp',
    archive_mode: 'it sets archive_mode to off',
  };
}

function duplicateHostFields(spec: PlatformSpec): ValidationError[] {
  const problems: ValidationError[] = [];
  const names = spec.hosts.map((host) => host.name);
  const taskQueues = spec.hosts.map((host) => host.taskQueue);
  spec.hosts.forEach((host, index) => {
    if (names.indexOf(host.name) !== index) {
      problems.push(
        new ValidationError(
          `hosts[${index}].name`,
          'a name used by no other host',
          JSON.stringify(host.name),
        ),
      );
    }
    if (taskQueues.indexOf(host.taskQueue) !== index) {
      problems.push(
        new ValidationError(
          `hosts[${index}].taskQueue`,
          'a task queue used by no other host',
          JSON.stringify(host.taskQueue),
        ),
      );
    }
  });
  return problems;
}

function duplicateRoleNames(moduleName: string, module: ModuleSpec): ValidationError[] {
  const problems: ValidationError[] = [];
  const resolved = resolveRoleNames(moduleName, module.roles);
  const kinds = ['owner', 'readWrite', 'readOnly'] as const;
  kinds.forEach((kind, index) => {
    for (const earlier of kinds.slice(0, index)) {
      if (resolved[kind] !== resolved[earlier]) continue;

      // Defaults never collide with each other, so at least one of the two was written in the spec.
      const [blamed, other] = module.roles[kind] === undefined ? [earlier, kind] : [kind, earlier];
      problems.push(
        new ValidationError(
          `modules.${moduleName}.roles.${blamed}`,
          `a role name different from roles.${other} (${resolved[other]})`,
          JSON.stringify(resolved[blamed]),
        ),
      );
      return;
    }
  });
  return problems;
}

function managedSettings(moduleName: string, module: ModuleSpec, hostIndex: number): ValidationError[] {
  const sources = managedSettingSources(moduleName, hostIndex);
  return Object.entries(module.tuning.settings)
    .filter(([key]) => Object.hasOwn(sources, key))
    .map(
      ([key, value]) =>
        new ValidationError(
          `modules.${moduleName}.tuning.settings.${key}`,
          `a setting dbplane does not manage (${sources[key] as string})`,
          describeValue(value),
        ),
    );
}

/** Validates an already parsed document; `source` names it in errors. */
export function validateSpec(document: unknown, source: string): PlatformSpec {
  const result = platformSpecSchema.safeParse(document);
  if (!result.success) throw new SpecError(source, describeIssues(document, result.error.issues));

  const spec = result.data;
  const problems = duplicateHostFields(spec);
  const hostNames = spec.hosts.map((host) => host.name);
  const ports = new Map<number, string>();
  for (const [name, module] of Object.entries(spec.modules)) {
    if (!module) continue;
    const hostIndex = hostNames.indexOf(module.host);
    if (hostIndex < 0) {
      problems.push(
        new ValidationError(
          `modules.${name}.host`,
          `one of the hosts ${hostNames.join(', ')}`,
          JSON.stringify(module.host),
        ),
      );
    }
    const owner = ports.get(module.port);
    if (owner) {
      problems.push(
        new ValidationError(`modules.${name}.port`, `a port not used by ${owner}`, String(module.port)),
      );
    }
    ports.set(module.port, name);
    problems.push(...duplicateRoleNames(name, module), ...managedSettings(name, module, hostIndex));
  }
  if (problems.length > 0) throw new SpecError(source, problems);
  return spec;
}

/** Reads, parses and validates a spec file. */
export function loadSpecFile(file: string): { spec: PlatformSpec; directory: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new SpecError(file, [
      new ValidationError('(file)', 'a readable YAML file', (error as Error).message),
    ]);
  }
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    const problems = document.errors.map(
      (error) =>
        new ValidationError(
          `(line ${error.linePos?.[0]?.line ?? '?'})`,
          'valid YAML',
          error.message.split('\n')[0] ?? '',
        ),
    );
    throw new SpecError(file, problems);
  }
  return { spec: validateSpec(document.toJS(), file), directory: path.dirname(path.resolve(file)) };
}
