#!/usr/bin/env node
// The dbplane command; the compiled CLI lives in dist/ (built by `npm run build`).
await import('../dist/cli/main.js');
