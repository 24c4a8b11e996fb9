#!/usr/bin/env node
// Writes the OpenAPI document the server serves at GET /openapi.json to docs/openapi.json (or the
// path given), so that the repository holds it; test/server/openapi.test.ts fails when they differ.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiJson } from '../server/routes.js';

const target = process.argv[2] ?? fileURLToPath(new URL('../../docs/openapi.json', import.meta.url));
writeFileSync(target, openApiJson());
process.stdout.write(`wrote ${target}\n`);
