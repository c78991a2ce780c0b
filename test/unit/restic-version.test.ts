import { describe, expect, it } from 'vitest';

import { parseResticVersion, resticCapabilities } from '../../activities/host/restic-version.js';
import { ValidationError } from '../../lib/errors.js';

describe('restic versions', () => {
  it.each([
    ['restic 0.18.1 compiled with go1.26.8 on linux/amd64', [0, 18, 1], true],
    ['restic 0.16.0 compiled with go1.21 on linux/amd64\n', [0, 16, 0], true],
    ['restic 0.15.2 compiled with go1.20 on linux/amd64', [0, 15, 2], false],
    ['restic 0.14.0 compiled with go1.19.8 on linux/amd64', [0, 14, 0], false],
    ['restic 1.0.0 compiled with go1.30 on linux/amd64', [1, 0, 0], true],
  ])('reads %j and knows whether it can wait for locks', (output, [major, minor, patch], retryLock) => {
    const version = parseResticVersion(output);

    expect([version.major, version.minor, version.patch]).toEqual([major, minor, patch]);
    expect(resticCapabilities(version).retryLock).toBe(retryLock);
  });

  it('refuses output that is not a restic version line', () => {
    expect(() => parseResticVersion('bash: restic: command not found')).toThrow(ValidationError);
  });
});
