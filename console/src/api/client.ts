// The console's typed client of the HTTP API: one method per route it uses, the key sent as a
// bearer token, refusals thrown as ApiError with the API's code, message and field. The CSV import
// reports its upload's progress and the exports their download's, for the progress bars.
import type {
  CampaignReport, Card, CardAnswer, Coupon, CouponReport, DailyReport, ImportAnswer, KeyInfo, LedgerPage, Member, MemberPage, MemberWrite,
  Order, Program, PurchaseAnswer, ReferralReport, ReturnAnswer, RfmReport, RfmSegment, Summary, TopupAnswer,
  VersionedProgram, WhatIfJob, WhoAmI, Redemption, RedemptionAnswer, RewardListed, RewardReport, StaffReport,
  AuditPage, AuditQuery, DeliveryPage, EraseAnswer, Webhook, WebhookCreated, WebhookDetail,
} from './types.js';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

/** A refusal the browser made (no answer at all): the server is down or unreachable. */
export const NETWORK_ERROR = 'network';

export type Progress = (done: number, total: number | null) => void;

const enc = encodeURIComponent;

function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

async function refusal(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = (body as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
  return new ApiError(res.status, e?.code ?? 'internal', e?.message ?? res.statusText, e?.field);
}

export class ApiClient {
  /** Called once a request is refused as unauthorized: the key was revoked or is wrong. */
  onUnauthorized: (() => void) | null = null;

  constructor(private key: string) {}

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { authorization: `Bearer ${this.key}` };
    if (json) h['content-type'] = 'application/json';
    return h;
  }

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(path, { method, headers: this.headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch (err) {
      throw new ApiError(0, NETWORK_ERROR, (err as Error).message);
    }
    if (!res.ok) {
      const error = await refusal(res);
      if (error.status === 401) this.onUnauthorized?.();
      throw error;
    }
    return res;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.send(method, path, body)).json()) as T;
  }

  whoami = () => this.json<WhoAmI>('GET', '/v1/whoami');
  program = () => this.json<VersionedProgram>('GET', '/v1/program');
  saveProgram = (program: Program) => this.json<VersionedProgram>('PUT', '/v1/program', program);
  startWhatIf = (program: Program, from?: string) => this.json<WhatIfJob>('POST', '/v1/admin/what-if', from === undefined ? { program } : { program, from });
  whatIf = (id: string) => this.json<WhatIfJob>('GET', `/v1/admin/what-if/${enc(id)}`);

  members = (params: { q?: string; tierId?: string; limit?: number; cursor?: string | null }) =>
    this.json<MemberPage>('GET', `/v1/members${query(params)}`);
  member = (id: string) => this.json<Member>('GET', `/v1/members/${enc(id)}`);
  register = (body: Record<string, unknown>) => this.json<Member & { replayed: boolean }>('POST', '/v1/members', body);
  updateMember = (id: string, body: Record<string, unknown>) => this.json<Member>('PATCH', `/v1/members/${enc(id)}`, body);
  ledger = (id: string, limit: number, cursor?: number | null) => this.json<LedgerPage>('GET', `/v1/members/${enc(id)}/ledger${query({ limit, cursor })}`);
  memberCoupons = (id: string) => this.json<{ memberId: string; coupons: Coupon[] }>('GET', `/v1/members/${enc(id)}/coupons`);
  order = (id: string) => this.json<Order>('GET', `/v1/orders/${enc(id)}`);

  purchase = (body: Record<string, unknown>) => this.json<PurchaseAnswer>('POST', '/v1/purchases', body);
  returnOrder = (body: { returnId: string; orderId: string; amountCents: number }) => this.json<ReturnAnswer>('POST', '/v1/returns', body);
  adjustPoints = (body: { requestId: string; memberId: string; points: number; reason: string }) => this.json<MemberWrite>('POST', '/v1/points/adjustments', body);
  topup = (body: { requestId: string; memberId: string; amountCents: number }) => this.json<TopupAnswer>('POST', '/v1/wallet/topups', body);
  withdraw = (body: { requestId: string; memberId: string; amountCents: number }) => this.json<MemberWrite>('POST', '/v1/wallet/withdrawals', body);
  erase = (id: string, requestId: string) => this.json<EraseAnswer>('POST', `/v1/members/${enc(id)}/erase`, { requestId });
  issueCoupon = (body: { requestId: string; templateId: string; memberId: string }) => this.json<Coupon>('POST', '/v1/coupons/issue', body);

  rewards = () => this.json<{ rewards: RewardListed[] }>('GET', '/v1/rewards');
  redeem = (body: { requestId: string; memberId: string; rewardId: string; quantity: number; storeId?: string; staffId?: string }) =>
    this.json<RedemptionAnswer>('POST', '/v1/rewards/redemptions', body);
  redemption = (id: string) => this.json<Redemption>('GET', `/v1/rewards/redemptions/${enc(id)}`);
  fulfil = (id: string) => this.json<RedemptionAnswer>('POST', `/v1/rewards/redemptions/${enc(id)}/fulfil`, {});
  cancelRedemption = (id: string) => this.json<RedemptionAnswer>('POST', `/v1/rewards/redemptions/${enc(id)}/cancel`, {});
  restock = (rewardId: string, body: { requestId: string; delta: number }) =>
    this.json<{ rewardId: string; delta: number; replayed: boolean; stockLeft: number | null }>('POST', `/v1/rewards/${enc(rewardId)}/stock`, body);
  memberRedemptions = (id: string) => this.json<{ memberId: string; redemptions: Redemption[] }>('GET', `/v1/members/${enc(id)}/redemptions`);
  memberCards = (id: string) => this.json<{ memberId: string; cards: Card[] }>('GET', `/v1/members/${enc(id)}/cards`);
  useCard = (body: { requestId: string; memberId: string; serviceId: string; uses: number; storeId?: string; staffId?: string }) =>
    this.json<CardAnswer>('POST', '/v1/cards/uses', body);
  adjustCard = (body: { requestId: string; memberId: string; serviceId: string; uses: number; reason: string }) =>
    this.json<CardAnswer>('POST', '/v1/cards/adjustments', body);

  summary = () => this.json<Summary>('GET', '/v1/reports/summary');
  daily = (from: string, to: string) => this.json<DailyReport>('GET', `/v1/reports/daily${query({ from, to })}`);
  rfm = (segment?: RfmSegment) => this.json<RfmReport>('GET', `/v1/reports/rfm${query({ segment })}`);
  referrals = (id: string) => this.json<ReferralReport>('GET', `/v1/reports/referrals/${enc(id)}`);
  couponReport = (from: string, to: string) => this.json<CouponReport>('GET', `/v1/reports/coupons${query({ from, to })}`);
  rewardReport = (from: string, to: string) => this.json<RewardReport>('GET', `/v1/reports/rewards${query({ from, to })}`);
  staffReport = (from: string, to: string) => this.json<StaffReport>('GET', `/v1/reports/staff${query({ from, to })}`);
  campaignReport = (from: string, to: string) => this.json<CampaignReport>('GET', `/v1/reports/campaigns${query({ from, to })}`);

  keys = () => this.json<{ keys: KeyInfo[] }>('GET', '/v1/admin/keys');
  createKey = (role: string) => this.json<{ id: string; key: string; role: string }>('POST', '/v1/admin/keys', { role });
  revokeKey = (id: string) => this.json<KeyInfo>('DELETE', `/v1/admin/keys/${enc(id)}`);

  webhooks = () => this.json<{ webhooks: Webhook[] }>('GET', '/v1/admin/webhooks');
  webhook = (id: string) => this.json<WebhookDetail>('GET', `/v1/admin/webhooks/${enc(id)}`);
  createWebhook = (body: { url: string; events: string[] }) => this.json<WebhookCreated>('POST', '/v1/admin/webhooks', body);
  deleteWebhook = (id: string) => this.json<Webhook & { deleted: true }>('DELETE', `/v1/admin/webhooks/${enc(id)}`);
  deliveries = (id: string, limit: number, cursor?: string | number | null) =>
    this.json<DeliveryPage>('GET', `/v1/admin/webhooks/${enc(id)}/deliveries${query({ limit, cursor })}`);
  redeliver = (id: string, fromEventId: string) => this.json<{ id: string; fromEventId: string }>('POST', `/v1/admin/webhooks/${enc(id)}/redeliver`, { fromEventId });

  audit = (params: AuditQuery) => this.json<AuditPage>('GET', `/v1/admin/audit${query({ ...params })}`);

  async metrics(): Promise<string> {
    return (await this.send('GET', '/metrics')).text();
  }

  /** POST /v1/import/members with the file's bytes, reporting the upload as it goes (fetch cannot). */
  importMembers(file: Blob, progress: Progress): Promise<ImportAnswer> {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/v1/import/members');
      xhr.setRequestHeader('authorization', `Bearer ${this.key}`);
      xhr.setRequestHeader('content-type', 'text/csv');
      xhr.upload.onprogress = (e) => progress(e.loaded, e.lengthComputable ? e.total : null);
      xhr.onerror = () => reject(new ApiError(0, NETWORK_ERROR, 'the upload failed'));
      xhr.onload = () => {
        let body: unknown = null;
        try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (xhr.status >= 200 && xhr.status < 300) { resolve(body as ImportAnswer); return; }
        const e = (body as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
        if (xhr.status === 401) this.onUnauthorized?.();
        reject(new ApiError(xhr.status, e?.code ?? 'internal', e?.message ?? xhr.statusText, e?.field));
      };
      xhr.send(file);
    });
  }

  /** A CSV export read as it streams in, reporting bytes received; answers the whole file. */
  async exportCsv(name: 'members' | 'ledger' | 'coupons', params: Record<string, string>, progress: Progress): Promise<Blob> {
    const res = await this.send('GET', `/v1/export/${name}.csv${query(params)}`);
    const reader = res.body!.getReader();
    const parts: Uint8Array[] = [];
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      bytes += value.byteLength;
      progress(bytes, null);
    }
    return new Blob(parts as BlobPart[], { type: 'text/csv;charset=utf-8' });
  }
}
