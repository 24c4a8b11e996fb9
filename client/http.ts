// The typed HTTP client of the Loyalty Ledger API, for Node 20+ and browsers alike: it uses only
// `fetch`, and every call's path parameters, body and answer are typed from the same schemas the
// server checks bodies against (server/schema/catalogue.ts). A refusal or failure throws ApiError
// with the catalogue's stable code. It may know several nodes of a cluster: a request that a node
// did not take (no connection, or 503 `not_owner`, `shutting_down`, `overloaded`) goes to the next
// node, when sending it again cannot apply it twice (a read, a write that carries its key, or a
// connection that was refused before anything was sent).
import type { Static, TSchema } from '@sinclair/typebox';
import type { CATALOGUE } from '../server/schema/catalogue.js';
import type { ErrorCode } from '../engine/errors.js';

type Catalogue = typeof CATALOGUE;

/** A route as the server's table names it: `POST /v1/purchases`, `GET /v1/members/:id`. */
export type RouteName = keyof Catalogue;

/** The JSON body a route takes (`string` for the CSV import, `undefined` for none). */
export type BodyOf<K extends RouteName> = Catalogue[K] extends { body: infer S extends TSchema } ? Static<S>
  : Catalogue[K] extends { bodyMedia: string } ? string : undefined;

/** What a route answers on success (`string` for CSV, metrics and the console). */
export type AnswerOf<K extends RouteName> = Catalogue[K] extends { answer: infer S extends TSchema } ? Static<S> : string;

type PathOf<K> = K extends `${string} ${infer P}` ? P : never;
type ParamNames<P> = P extends `${string}:${infer N}/${infer Rest}` ? N | ParamNames<`/${Rest}`> : P extends `${string}:${infer N}` ? N : never;

/** The path parameters of a route, by name: `{ id }` for `/v1/members/:id`. */
export type ParamsOf<K extends RouteName> = { [N in ParamNames<PathOf<K>>]: string };

/** The options of one call: the path's parameters, the body (when the route takes one), the query. */
export type CallOptions<K extends RouteName> =
  & ([ParamNames<PathOf<K>>] extends [never] ? { params?: undefined } : { params: ParamsOf<K> })
  & (BodyOf<K> extends undefined ? { body?: undefined }
    : Catalogue[K] extends { bodyOptional: true } ? { body?: BodyOf<K> } : { body: BodyOf<K> })
  & { query?: Record<string, string | number | undefined>; signal?: AbortSignal };

/** The arguments of a call after the route: its options, which may be left out when none is required. */
export type CallArgs<K extends RouteName> = object extends CallOptions<K> ? [options?: CallOptions<K>] : [options: CallOptions<K>];

/** A refusal or failure as the server answered it: `{ error: { code, message, field? } }` and its status. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: ErrorCode | 'network', message: string, readonly field?: string, readonly retryAfterS?: number) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ClientOptions {
  /** `http://127.0.0.1:8080`: where the server listens (no trailing path); the same as `baseUrls: [baseUrl]`. */
  baseUrl?: string;
  /**
   * The nodes to use (`http://` or `https://`, no trailing path, at least one): each request goes to
   * the node that answered last, and to the next in turn when that one does not take it.
   */
  baseUrls?: readonly string[];
  /** Most nodes one request is sent to, counting the first: the number of nodes unless told (each once). */
  attemptsMax?: number;
  /** The pause before a request goes round the nodes again, once every node has been tried (when `attemptsMax` exceeds the number of nodes). */
  roundDelayMs?: number;
  /** The API key, sent as `Authorization: Bearer <key>`; null for the public routes only. */
  key: string | null;
  /** The fetch to use; the global one unless told (a test's, an instrumented one). */
  fetch?: typeof fetch;
}

/** Answers that say "this node did not take the request, another may": nothing was applied. */
const NEXT_NODE_CODES: ReadonlySet<string> = new Set(['not_owner', 'shutting_down', 'overloaded']);

/**
 * The writes that carry their own key, and the fields that hold it: sent again with the same key,
 * such a write answers its first result (`replayed`) and applies nothing twice, so it may go to the
 * next node even when the first may have applied it. A quote writes nothing. Every other write is
 * sent again only when its first connection was refused (nothing was sent).
 */
export const KEYED_WRITES: Readonly<Record<string, readonly string[]>> = {
  'POST /v1/members': ['memberId', 'requestId'],
  'POST /v1/members/:id/erase': ['requestId'],
  'POST /v1/purchases': ['orderId'],
  'POST /v1/product-purchases': ['orderId'],
  'POST /v1/returns': ['returnId'],
  'POST /v1/checkout/quote': [],
  'POST /v1/wallet/transfers': ['requestId'],
  'POST /v1/wallet/topups': ['requestId'],
  'POST /v1/wallet/withdrawals': ['requestId'],
  'POST /v1/points/redemptions': ['requestId'],
  'POST /v1/points/adjustments': ['requestId'],
  'POST /v1/coupons/issue': ['requestId'],
  'POST /v1/coupons/bulk-issue': ['requestId'],
  'POST /v1/coupons/:code/revoke': ['requestId'],
  'POST /v1/rewards/redemptions': ['requestId'],
  'POST /v1/rewards/:id/stock': ['requestId'],
  'POST /v1/cards/uses': ['requestId'],
  'POST /v1/cards/adjustments': ['requestId'],
};

/** Whether sending this request again cannot apply anything twice: a read, a quote, or a write whose body holds its key. */
export function resendable(route: string, body: unknown): boolean {
  const method = route.slice(0, route.indexOf(' '));
  if (method === 'GET' || method === 'HEAD') return true;
  const fields = KEYED_WRITES[route];
  if (fields === undefined) return false;
  if (fields.length === 0) return true;
  const record = typeof body === 'object' && body !== null ? body as Record<string, unknown> : {};
  return fields.some((f) => typeof record[f] === 'string' && record[f] !== '');
}

/** A fetch that threw before anything was sent: the connection was refused (Node's fetch names the cause; a browser's does not, and counts as maybe sent). */
function refusedBeforeSending(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  return cause?.code === 'ECONNREFUSED';
}

/** The base URLs of the options, checked: at least one, each http(s) with no trailing slash. */
function baseUrlsOf(options: ClientOptions): readonly string[] {
  if (options.baseUrl !== undefined && options.baseUrls !== undefined) throw new TypeError('give baseUrl or baseUrls, not both');
  const urls = options.baseUrls ?? (options.baseUrl === undefined ? [] : [options.baseUrl]);
  if (urls.length === 0) throw new TypeError('the client needs at least one node: baseUrl or baseUrls');
  for (const url of urls) if (!/^https?:\/\/[^/]/.test(url) || url.endsWith('/')) throw new TypeError(`a node's base URL is http(s)://host:port with no trailing slash, not ${JSON.stringify(url)}`);
  return [...urls];
}

/** `/v1/members/:id` with `{ id: 'a b' }` → `/v1/members/a%20b`. */
export function pathOf(template: string, params: Record<string, string> | undefined): string {
  return template.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new TypeError(`the path parameter ${name} is missing`);
    return encodeURIComponent(value);
  });
}

/** The pause before a request goes round the nodes again: about a takeover's first renewal, far below its 10 s bound. */
export const CLIENT_ROUND_DELAY_MS = 500;

export class LoyaltyClient {
  /** Requests sent again to another node: what a run reports. */
  resends = 0;
  private readonly fetchFn: typeof fetch;
  private readonly baseUrls: readonly string[];
  private readonly attemptsMax: number;
  /** The node that answered last, as an index of `baseUrls`: the next request starts there. */
  private current = 0;

  constructor(readonly options: ClientOptions) {
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.baseUrls = baseUrlsOf(options);
    this.attemptsMax = options.attemptsMax ?? this.baseUrls.length;
    if (!Number.isInteger(this.attemptsMax) || this.attemptsMax < 1) throw new RangeError(`attemptsMax is a whole number from 1, not ${this.attemptsMax}`);
  }

  /** The base URL of the node the next request goes to first (the one that answered last). */
  get node(): string {
    return this.baseUrls[this.current]!;
  }

  /**
   * Calls one route: `call('POST /v1/purchases', { body })`, `call('GET /v1/members/:id', { params: { id } })`.
   * Answers the success body, typed by the route; throws ApiError for every other answer.
   */
  async call<K extends RouteName>(route: K, ...[options]: CallArgs<K>): Promise<AnswerOf<K>> {
    const space = (route as string).indexOf(' ');
    const method = (route as string).slice(0, space);
    const opts = (options ?? {}) as { params?: Record<string, string>; body?: unknown; query?: Record<string, string | number | undefined>; signal?: AbortSignal };
    let path = pathOf((route as string).slice(space + 1), opts.params);
    const query = Object.entries(opts.query ?? {}).filter((e): e is [string, string | number] => e[1] !== undefined);
    if (query.length > 0) path += '?' + new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)])).toString();
    const headers: Record<string, string> = {};
    if (this.options.key !== null) headers['authorization'] = `Bearer ${this.options.key}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] = typeof opts.body === 'string' ? 'text/csv' : 'application/json';
    }
    const keyed = resendable(route as string, opts.body);
    const init: RequestInit = { method, headers, ...(body === undefined ? {} : { body }), ...(opts.signal === undefined ? {} : { signal: opts.signal }) };
    for (let attempt = 1; ; attempt++) {
      const base = this.baseUrls[this.current]!;
      let failure: ApiError;
      let mayResend: boolean;
      try {
        const res = await this.fetchFn(base + path, init);
        const text = await res.text();
        const json = (res.headers.get('content-type') ?? '').includes('application/json') && text !== '' ? JSON.parse(text) as unknown : undefined;
        if (res.ok) return (json ?? text) as AnswerOf<K>;
        const e = (json as { error?: { code?: ErrorCode; message?: string; field?: string } } | undefined)?.error;
        const retry = res.headers.get('retry-after');
        failure = new ApiError(res.status, e?.code ?? 'internal', e?.message ?? `HTTP ${res.status}`, e?.field, retry === null ? undefined : Number(retry));
        // These refusals apply nothing, keyed or not: another node may take the request.
        mayResend = res.status === 503 && NEXT_NODE_CODES.has(failure.code);
      } catch (err) {
        if (err instanceof SyntaxError) throw err;
        failure = new ApiError(0, 'network', `no answer from ${base}: ${(err as Error).message}`);
        // A connection that broke after sending may have delivered the request: only a request
        // that cannot apply twice goes again, unless the connection was refused outright.
        mayResend = keyed || refusedBeforeSending(err);
      }
      if (!mayResend || attempt >= this.attemptsMax || opts.signal?.aborted === true) throw failure;
      this.current = (this.current + 1) % this.baseUrls.length;
      this.resends += 1;
      if (attempt % this.baseUrls.length === 0) await new Promise((resolve) => setTimeout(resolve, this.options.roundDelayMs ?? CLIENT_ROUND_DELAY_MS));
    }
  }

  /** GET /v1/members/{id} */
  member(id: string): Promise<AnswerOf<'GET /v1/members/:id'>> {
    return this.call('GET /v1/members/:id', { params: { id } });
  }

  /** POST /v1/members: 201 with the member, 200 when the same registration replays. */
  register(body: BodyOf<'POST /v1/members'>): Promise<AnswerOf<'POST /v1/members'>> {
    return this.call('POST /v1/members', { body });
  }

  /** POST /v1/purchases */
  purchase(body: BodyOf<'POST /v1/purchases'>): Promise<AnswerOf<'POST /v1/purchases'>> {
    return this.call('POST /v1/purchases', { body });
  }

  /** POST /v1/returns */
  returnOrder(body: BodyOf<'POST /v1/returns'>): Promise<AnswerOf<'POST /v1/returns'>> {
    return this.call('POST /v1/returns', { body });
  }

  /** POST /v1/checkout/quote */
  quote(body: BodyOf<'POST /v1/checkout/quote'>): Promise<AnswerOf<'POST /v1/checkout/quote'>> {
    return this.call('POST /v1/checkout/quote', { body });
  }
}
