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
import { platformSpecSchema, type PlatformSpec } from './schema.js';

type Issue = z.core.$ZodIssue;

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
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`;
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
      return issue.message.startsWith('Invalid') ? `a value of format ${issue.format}` : issue.message;
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
      const expected = choices.length ? `one of ${choices.join(', ')}` : 'a known key';
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

/** Validates an already parsed document; `source` names it in errors. */
export function validateSpec(document: unknown, source: string): PlatformSpec {
  const result = platformSpecSchema.safeParse(document);
  if (!result.success) throw new SpecError(source, describeIssues(document, result.error.issues));

  const spec = result.data;
  const problems: ValidationError[] = [];
  const hostNames = spec.hosts.map((host) => host.name);
  spec.hosts.forEach((host, index) => {
    if (hostNames.indexOf(host.name) !== index) {
      problems.push(
        new ValidationError(
          `hosts[${index}].name`,
          'a name used by no other host',
          JSON.stringify(host.name),
        ),
      );
    }
  });
  const ports = new Map<number, string>();
  for (const [name, module] of Object.entries(spec.modules)) {
    if (!module) continue;
    if (!hostNames.includes(module.host)) {
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
