// The typed HTTP client of the Loyalty Ledger API, for Node 20+ and browsers alike: it uses only
// `fetch`, and every call's path parameters, body and answer are typed from the same schemas the
// server checks bodies against (server/schema/catalogue.ts). A refusal or failure throws ApiError
// with the catalogue's stable code.
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
  /** `http://127.0.0.1:8080`: where the server listens (no trailing path). */
  baseUrl: string;
  /** The API key, sent as `Authorization: Bearer <key>`; null for the public routes only. */
  key: string | null;
  /** The fetch to use; the global one unless told (a test's, an instrumented one). */
  fetch?: typeof fetch;
}

/** `/v1/members/:id` with `{ id: 'a b' }` → `/v1/members/a%20b`. */
export function pathOf(template: string, params: Record<string, string> | undefined): string {
  return template.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    const value = params?.[name];
    if (value === undefined) throw new TypeError(`the path parameter ${name} is missing`);
    return encodeURIComponent(value);
  });
}

export class LoyaltyClient {
  private readonly fetchFn: typeof fetch;

  constructor(readonly options: ClientOptions) {
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * Calls one route: `call('POST /v1/purchases', { body })`, `call('GET /v1/members/:id', { params: { id } })`.
   * Answers the success body, typed by the route; throws ApiError for every other answer.
   */
  async call<K extends RouteName>(route: K, ...[options]: CallArgs<K>): Promise<AnswerOf<K>> {
    const space = (route as string).indexOf(' ');
    const method = (route as string).slice(0, space);
    const opts = (options ?? {}) as { params?: Record<string, string>; body?: unknown; query?: Record<string, string | number | undefined>; signal?: AbortSignal };
    let url = this.options.baseUrl + pathOf((route as string).slice(space + 1), opts.params);
    const query = Object.entries(opts.query ?? {}).filter((e): e is [string, string | number] => e[1] !== undefined);
    if (query.length > 0) url += '?' + new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)])).toString();
    const headers: Record<string, string> = {};
    if (this.options.key !== null) headers['authorization'] = `Bearer ${this.options.key}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] = typeof opts.body === 'string' ? 'text/csv' : 'application/json';
    }
    let res: Response;
    try {
      res = await this.fetchFn(url, { method, headers, ...(body === undefined ? {} : { body }), ...(opts.signal === undefined ? {} : { signal: opts.signal }) });
    } catch (err) {
      throw new ApiError(0, 'network', `no answer from ${this.options.baseUrl}: ${(err as Error).message}`);
    }
    const text = await res.text();
    const json = (res.headers.get('content-type') ?? '').includes('application/json') && text !== '' ? JSON.parse(text) as unknown : undefined;
    if (res.ok) return (json ?? text) as AnswerOf<K>;
    const e = (json as { error?: { code?: ErrorCode; message?: string; field?: string } } | undefined)?.error;
    const retry = res.headers.get('retry-after');
    throw new ApiError(res.status, e?.code ?? 'internal', e?.message ?? `HTTP ${res.status}`, e?.field, retry === null ? undefined : Number(retry));
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
