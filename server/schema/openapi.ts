// Builds the OpenAPI 3.1 document of the HTTP API from the route table (server/routes.ts, which
// says who may call what) and the catalogue (server/schema/catalogue.ts, which says what each route
// takes and answers), with the examples a test runs against a real server (server/schema/examples.ts).
// Served at GET /openapi.json and kept as docs/openapi.json, which a test compares with this.
import type { TSchema } from '@sinclair/typebox';
import { ERRORS } from '../../engine/errors.js';
import * as B from './bodies.js';
import * as A from './answers.js';
import { ROUTE_DOCS, routeKey, type RouteDoc } from './catalogue.js';
import { EXAMPLES, type Example } from './examples.js';

/** What the builder needs of a route of the table. */
export interface RouteRow { method: string; path: string; roles: readonly string[] | 'public' }

export const OPENAPI_VERSION = '3.1.0';
export const API_VERSION = '1.0.0';

const TAGS: Record<string, string> = {
  Health: 'Liveness, metrics, this document and the console',
  Program: 'The loyalty program: tiers, earning, coupons, campaigns, rewards',
  Members: 'Registration, profiles, erasure, search, ledger and balances',
  Orders: 'Purchases, returns, loyalty products and checkout quotes',
  'Points and wallet': 'Spending and adjusting points, wallet top-ups, withdrawals and transfers',
  Coupons: 'Issuing, revoking and finding coupons',
  Rewards: 'Reward redemptions and count cards',
  Reports: 'Daily, RFM, coupon, campaign, reward, staff and referral reports',
  'Import and export': 'CSV member import and CSV exports',
  Administration: 'Keys, audit trail, sweeps, backups, checks and what-ifs',
  Webhooks: 'Subscriptions to signed event deliveries',
};

/** The component name of every named schema: the export's name in bodies.ts or answers.ts (the first, for an alias). */
function componentNames(): Map<TSchema, string> {
  const names = new Map<TSchema, string>();
  for (const [name, value] of [...Object.entries(B), ...Object.entries(A)]) {
    if (typeof value === 'object' && value !== null && !names.has(value as TSchema) && name !== 'OP_BODIES' && name !== 'ErrorCodeSchema') names.set(value as TSchema, name);
  }
  return names;
}

/** A schema as plain JSON (TypeBox's symbol keys left out). */
const plain = (schema: TSchema): Record<string, unknown> => JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;

/** `/v1/members/:id` as OpenAPI writes it, and its parameters' names. */
export function openApiPath(path: string): { path: string; params: string[] } {
  const params: string[] = [];
  const out = path.replace(/:([A-Za-z]+)/g, (_m, name: string) => { params.push(name); return `{${name}}`; });
  return { path: out, params };
}

/** `GET /v1/members/:id/ledger` → `getMembersByIdLedger`: unique, and the client's method names. */
export function operationId(method: string, path: string): string {
  const words = path.split('/').filter((s) => s !== '' && s !== 'v1').map((s) => {
    const name = s.startsWith(':') ? 'By-' + s.slice(1) : s;
    return name.split(/[^A-Za-z0-9]+/).filter((w) => w !== '').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  });
  return method.toLowerCase() + (words.length === 0 ? 'Root' : words.join(''));
}

const ref = (names: Map<TSchema, string>, schema: TSchema): Record<string, unknown> => {
  const name = names.get(schema);
  if (name === undefined) throw new Error('a schema of the catalogue is not exported by bodies.ts or answers.ts');
  return { $ref: `#/components/schemas/${name}` };
};

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorAnswer' } } } });

function examplesOf(examples: readonly Example[], side: 'request' | 'answer', status?: number): Record<string, unknown> | undefined {
  const chosen = examples.filter((e) => (side === 'request' ? e.body !== undefined : e.status === status));
  if (chosen.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const e of chosen) out[e.name] = { summary: e.summary, value: side === 'request' ? e.body : e.answer };
  return out;
}

function operation(row: RouteRow, doc: RouteDoc, names: Map<TSchema, string>, examples: readonly Example[]): Record<string, unknown> {
  const { params } = openApiPath(row.path);
  const op: Record<string, unknown> = {
    operationId: operationId(row.method, row.path),
    summary: doc.summary,
    tags: [doc.tag],
    description: row.roles === 'public' ? 'No key needed.' : `Roles: ${row.roles.join(', ')}.`,
  };
  if (row.roles === 'public') op['security'] = [];
  const parameters: Array<Record<string, unknown>> = params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description: `the ${name}, percent-encoded` }));
  for (const [name, q] of Object.entries(doc.query ?? {})) parameters.push({ name, in: 'query', required: q.required === true, schema: { type: 'string' }, description: q.description });
  if (parameters.length > 0) op['parameters'] = parameters;
  if (doc.body !== undefined) {
    const media: Record<string, unknown> = { schema: ref(names, doc.body) };
    const ex = examplesOf(examples, 'request');
    if (ex !== undefined) media['examples'] = ex;
    op['requestBody'] = { required: doc.bodyOptional !== true, content: { 'application/json': media } };
  } else if (doc.bodyMedia !== undefined) {
    op['requestBody'] = { required: true, content: { [doc.bodyMedia]: { schema: { type: 'string' } } } };
  }
  const responses: Record<string, unknown> = {};
  const success = (status: number, description: string): Record<string, unknown> => {
    if (doc.answer === undefined) return { description, content: { [doc.answerMedia ?? 'application/octet-stream']: { schema: { type: 'string' } } } };
    const media: Record<string, unknown> = { schema: ref(names, doc.answer) };
    const ex = examplesOf(examples, 'answer', status);
    if (ex !== undefined) media['examples'] = ex;
    return { description, content: { 'application/json': media } };
  };
  responses[String(doc.status)] = success(doc.status, doc.replays201 === true ? 'created' : 'done');
  if (doc.replays201 === true) responses['200'] = success(200, 'a replay: the first answer again');
  const refused = [...new Set(examples.filter((e) => e.status >= 400).map((e) => e.status))];
  for (const status of refused) {
    const ex = examplesOf(examples, 'answer', status);
    responses[String(status)] = { ...errorResponse('refused'), content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorAnswer' }, examples: ex } } };
  }
  const add = (status: string, description: string) => { if (responses[status] === undefined) responses[status] = errorResponse(description); };
  if (doc.body !== undefined || doc.bodyMedia !== undefined || parameters.length > 0) add('400', 'invalid_request: a field is wrong; `field` names it');
  if (row.roles !== 'public') {
    add('401', 'unauthorized: no key, or not a valid one');
    add('403', 'forbidden: the key\'s role may not do that');
  }
  responses['default'] = errorResponse('another refusal or failure of the catalogue (ErrorCode)');
  op['responses'] = responses;
  return op;
}

/** The OpenAPI document of `routes`; throws when a route has no catalogue entry. */
export function openApiDocument(routes: readonly RouteRow[]): Record<string, unknown> {
  const names = componentNames();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const row of routes) {
    const key = routeKey(row.method, row.path);
    const doc = ROUTE_DOCS[key];
    if (doc === undefined) throw new Error(`the route ${key} has no entry in server/schema/catalogue.ts`);
    const { path } = openApiPath(row.path);
    paths[path] ??= {};
    paths[path]![row.method.toLowerCase()] = operation(row, doc, names, EXAMPLES.filter((e) => e.route === key));
  }
  const schemas: Record<string, unknown> = {};
  for (const [schema, name] of [...names].sort((a, b) => a[1].localeCompare(b[1]))) schemas[name] = plain(schema);
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'Loyalty Ledger API',
      version: API_VERSION,
      description: 'Members, points, tiers, wallet, coupons, campaigns and rewards on an append-only ledger. Every write carries its key ' +
        '(an order id, a requestId): sent again, it answers the first answer with `replayed: true`. Errors answer ' +
        '`{ error: { code, message, field? } }`; the codes are listed under ErrorCode. Terminals that send many operations use the ' +
        'WebSocket stream at GET /v1/stream (docs/api.md, "The POS stream"), whose ops take exactly these bodies.',
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: '/', description: 'the server that serves this document' }],
    security: [{ apiKey: [] }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key: `Authorization: Bearer <key>`' } },
      schemas,
    },
    'x-error-statuses': Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, e.status])),
  };
}
