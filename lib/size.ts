import { ValidationError } from './errors.js';

const units: Record<string, number> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

/** Parses sizes such as "512MiB" or "4GiB" into bytes. */
export function parseSize(field: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)$/.exec(value.trim());
  if (!match) {
    throw new ValidationError(field, 'a size such as 512MiB or 4GiB', JSON.stringify(value));
  }
  return Math.round(Number(match[1]) * (units[match[2] as string] as number));
}

/** Formats bytes with a binary unit, for messages and tables. */
export function formatBytes(bytes: number): string {
  const order = ['TiB', 'GiB', 'MiB', 'KiB'];
  for (const unit of order) {
    const size = units[unit] as number;
    if (bytes >= size) return `${(bytes / size).toFixed(1)} ${unit}`;
  }
  return `${bytes} B`;
}
