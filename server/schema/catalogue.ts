// What each route takes and answers, one entry per route of server/routes.ts: its body and answer
// schemas, query parameters and a summary. The OpenAPI document is built from it
// (server/schema/openapi.ts), the router checks bodies against it, and a test fails when a route
// of the router has no entry here or an entry no route. A new route is one entry.
import type { TSchema } from '@sinclair/typebox';
import * as B from './bodies.js';
import * as A from './answers.js';

/** A query parameter: always text on the wire; what it must hold is said in words. */
export interface QueryDoc { description: string; required?: boolean }

export interface RouteDoc {
  summary: string;
  tag: string;
  /** The JSON body's schema; absent for a route without a JSON body. */
  body?: TSchema;
  /** An empty body reads as `{}` (a fulfilment, a sweep, a backup). */
  bodyOptional?: boolean;
  /** A JSON `null` body reads as `{}` too (a fulfilment, a cancellation). */
  bodyNullable?: boolean;
  /** A body that is not JSON: its media type (the CSV import). */
  bodyMedia?: string;
  /** The success status and its answer; a media type other than JSON has no schema. */
  status: number;
  answer?: TSchema;
  answerMedia?: string;
  /** A write that answers `201` when it creates and `200` when it replays. */
  replays201?: boolean;
  query?: Record<string, QueryDoc>;
}

const page: Record<string, QueryDoc> = {
  limit: { description: 'page size, 1..1000 (50 unless told)' },
  cursor: { description: 'the nextCursor of the previous page' },
};
const days: Record<string, QueryDoc> = {
  from: { description: 'first local day, YYYY-MM-DD', required: true },
  to: { description: 'last local day, YYYY-MM-DD, included', required: true },
};
const atQuery: Record<string, QueryDoc> = { at: { description: 'an instant (ISO-8601 with an offset); now unless told' } };

/**
 * The entries by `METHOD /path` as routes.ts writes them (`:id` for a path parameter). Their literal
 * types stay (`satisfies`): the client types every call from them (client/http.ts).
 */
export const CATALOGUE = {
  'GET /healthz': { summary: 'Liveness', tag: 'Health', status: 200, answer: A.Health },
  'GET /openapi.json': { summary: 'This document', tag: 'Health', status: 200, answer: A.OpenApi },
  'GET /metrics': { summary: 'Prometheus metrics', tag: 'Health', status: 200, answerMedia: 'text/plain' },
  'GET /': { summary: 'The console', tag: 'Health', status: 200, answerMedia: 'text/html' },
  'GET /console/assets/:file': { summary: 'A console asset', tag: 'Health', status: 200, answerMedia: 'application/octet-stream' },
  'GET /v1/whoami': { summary: 'The presented key\'s id and role', tag: 'Administration', status: 200, answer: A.Whoami },

  'GET /v1/program': { summary: 'The program in force', tag: 'Program', status: 200, answer: A.Program },
  'PUT /v1/program': { summary: 'Replace the program', tag: 'Program', body: B.ProgramBody, status: 200, answer: A.Program },

  'POST /v1/members': { summary: 'Register a member', tag: 'Members', body: B.RegisterBody, status: 201, replays201: true, answer: A.Registered },
  'GET /v1/members': {
    summary: 'List or search members', tag: 'Members', status: 200, answer: A.MemberPage,
    query: { ...page, tierId: { description: 'only members of this tier' }, q: { description: 'a prefix of an id, name, email or phone' } },
  },
  'GET /v1/members/by-phone/:phone': { summary: 'Find a member by phone', tag: 'Members', status: 200, answer: A.Member },
  'GET /v1/members/:id': { summary: 'A member', tag: 'Members', status: 200, answer: A.Member },
  'PATCH /v1/members/:id': { summary: 'Change a member\'s profile', tag: 'Members', body: B.PatchBody, status: 200, answer: A.Patched },
  'POST /v1/members/:id/erase': { summary: 'Erase a member\'s personal data', tag: 'Members', body: B.EraseBody, status: 200, answer: A.Erased },
  'GET /v1/members/:id/ledger': { summary: 'A member\'s ledger, newest first', tag: 'Members', status: 200, answer: A.LedgerPage, query: page },
  'GET /v1/members/:id/coupons': {
    summary: 'A member\'s coupons', tag: 'Coupons', status: 200, answer: A.MemberCoupons,
    query: { state: { description: 'active, used, expired or revoked' } },
  },
  'GET /v1/members/:id/cards': { summary: 'A member\'s count cards', tag: 'Rewards', status: 200, answer: A.MemberCards },
  'GET /v1/members/:id/redemptions': { summary: 'A member\'s redemptions', tag: 'Rewards', status: 200, answer: A.MemberRedemptions },
  'GET /v1/members/:id/balance': { summary: 'A member\'s balances at an instant', tag: 'Members', status: 200, answer: A.Balance, query: atQuery },

  'POST /v1/purchases': { summary: 'Record a purchase', tag: 'Orders', body: B.PurchaseBody, status: 200, answer: A.Purchased },
  'POST /v1/product-purchases': { summary: 'Buy a loyalty product', tag: 'Orders', body: B.ProductPurchaseBody, status: 200, answer: A.ProductPurchased },
  'POST /v1/returns': { summary: 'Return (part of) an order', tag: 'Orders', body: B.ReturnBody, status: 200, answer: A.Returned },
  'GET /v1/orders/:id': { summary: 'An order and its returns', tag: 'Orders', status: 200, answer: A.Order },
  'POST /v1/checkout/quote': { summary: 'What an order would get, without recording it', tag: 'Orders', body: B.QuoteBody, status: 200, answer: A.Quote },
  'POST /v1/wallet/transfers': { summary: 'Move wallet money between members', tag: 'Points and wallet', body: B.TransferBody, status: 200, answer: A.Transferred },
  'POST /v1/wallet/topups': { summary: 'Top up a wallet', tag: 'Points and wallet', body: B.TopupBody, status: 200, answer: A.ToppedUp },
  'POST /v1/wallet/withdrawals': { summary: 'Withdraw from a wallet', tag: 'Points and wallet', body: B.WithdrawBody, status: 200, answer: A.Withdrawn },
  'POST /v1/points/redemptions': { summary: 'Spend points', tag: 'Points and wallet', body: B.RedeemBody, status: 200, answer: A.PointsRedeemed },
  'POST /v1/points/adjustments': { summary: 'Adjust points by hand', tag: 'Points and wallet', body: B.AdjustBody, status: 200, answer: A.PointsAdjusted },

  'POST /v1/coupons/issue': { summary: 'Issue one coupon', tag: 'Coupons', body: B.CouponIssueBody, status: 201, replays201: true, answer: A.CouponIssued },
  'POST /v1/coupons/bulk-issue': { summary: 'Issue a coupon to many members', tag: 'Coupons', body: B.BulkIssueBody, status: 200, answer: A.BulkIssued },
  'POST /v1/coupons/:code/revoke': { summary: 'Revoke a coupon', tag: 'Coupons', body: B.CouponRevokeBody, status: 200, answer: A.CouponRevoked },
  'GET /v1/coupons/:code': { summary: 'A coupon by its code', tag: 'Coupons', status: 200, answer: A.Coupon, query: atQuery },

  'GET /v1/rewards': { summary: 'The rewards with their stock left', tag: 'Rewards', status: 200, answer: A.Rewards },
  'POST /v1/rewards/redemptions': { summary: 'Redeem a reward', tag: 'Rewards', body: B.RewardRedeemBody, status: 201, replays201: true, answer: A.Redeemed },
  'GET /v1/rewards/redemptions/:id': { summary: 'A redemption', tag: 'Rewards', status: 200, answer: A.Redemption },
  'POST /v1/rewards/redemptions/:id/fulfil': { summary: 'Fulfil a redemption', tag: 'Rewards', body: B.FulfilBody, bodyOptional: true, bodyNullable: true, status: 200, answer: A.RedemptionStep },
  'POST /v1/rewards/redemptions/:id/cancel': { summary: 'Cancel a redemption', tag: 'Rewards', body: B.CancelBody, bodyOptional: true, bodyNullable: true, status: 200, answer: A.RedemptionStep },
  'POST /v1/rewards/:id/stock': { summary: 'Restock a reward', tag: 'Rewards', body: B.RestockBody, status: 200, answer: A.Restocked },
  'POST /v1/cards/uses': { summary: 'Use a count card', tag: 'Rewards', body: B.CardUseBody, status: 200, answer: A.CardUsed },
  'POST /v1/cards/adjustments': { summary: 'Adjust a count card by hand', tag: 'Rewards', body: B.CardAdjustBody, status: 200, answer: A.CardAdjusted },

  'GET /v1/reports/summary': { summary: 'Totals', tag: 'Reports', status: 200, answer: A.SummaryReport },
  'GET /v1/reports/referrals/:id': { summary: 'A member\'s referrals', tag: 'Reports', status: 200, answer: A.ReferralsReport },
  'GET /v1/reports/daily': { summary: 'One row per local day', tag: 'Reports', status: 200, answer: A.DailyReport, query: days },
  'GET /v1/reports/rfm': {
    summary: 'RFM scores and segments', tag: 'Reports', status: 200, answer: A.RfmReport,
    query: { asOf: { description: 'an instant; now unless told' }, segment: { description: 'list this segment\'s members' } },
  },
  'GET /v1/reports/coupons': { summary: 'Coupons by template', tag: 'Reports', status: 200, answer: A.CouponsReport, query: days },
  'GET /v1/reports/campaigns': { summary: 'Orders per campaign', tag: 'Reports', status: 200, answer: A.CampaignsReport, query: days },
  'GET /v1/reports/rewards': { summary: 'Redemptions per reward', tag: 'Reports', status: 200, answer: A.RewardsReport, query: days },
  'GET /v1/reports/staff': { summary: 'Per staff member', tag: 'Reports', status: 200, answer: A.StaffReport, query: days },

  'POST /v1/import/members': { summary: 'Import members from CSV', tag: 'Import and export', bodyMedia: 'text/csv', status: 200, answer: A.ImportResult },
  'GET /v1/export/members.csv': { summary: 'Every member as CSV', tag: 'Import and export', status: 200, answerMedia: 'text/csv' },
  'GET /v1/export/ledger.csv': {
    summary: 'The ledger as CSV', tag: 'Import and export', status: 200, answerMedia: 'text/csv',
    query: { from: { description: 'first local day (with to)' }, to: { description: 'last local day (with from)' } },
  },
  'GET /v1/export/coupons.csv': { summary: 'Every coupon as CSV', tag: 'Import and export', status: 200, answerMedia: 'text/csv' },

  'POST /v1/admin/sweep': { summary: 'Expire points and renew tiers now', tag: 'Administration', body: B.SweepBody, bodyOptional: true, status: 200, answer: A.Swept },
  'POST /v1/admin/what-if': { summary: 'Start a what-if under another program', tag: 'Administration', body: B.WhatIfBody, status: 202, answer: A.WhatIfJob },
  'GET /v1/admin/what-if/:id': { summary: 'A what-if\'s progress and report', tag: 'Administration', status: 200, answer: A.WhatIfJob },
  'POST /v1/admin/backup': { summary: 'Take a backup', tag: 'Administration', body: B.BackupBody, bodyOptional: true, status: 200, answer: A.Backup },
  'GET /v1/admin/cluster': { summary: 'This node\'s role in the cluster, the owner record and the nodes that answer', tag: 'Administration', status: 200, answer: A.ClusterStatus },
  'POST /v1/admin/cluster/drain': { summary: 'Drain this node: an owner hands the deployment over to a standby without stopping; a drained node takes nothing over', tag: 'Administration', status: 200, answer: A.ClusterStatus },
  'POST /v1/admin/cluster/undrain': { summary: 'Undrain this node: it may take the deployment over again', tag: 'Administration', status: 200, answer: A.ClusterStatus },
  'POST /v1/admin/compact': { summary: 'Rewrite the data files with only the pages in use (after erasures)', tag: 'Administration', status: 200, answer: A.Compacted },
  'GET /v1/admin/verify': { summary: 'Check the ledger\'s invariants', tag: 'Administration', status: 200, answer: A.Verify },
  'POST /v1/admin/keys': { summary: 'Create an API key', tag: 'Administration', body: B.KeyBody, status: 201, answer: A.CreatedKey },
  'GET /v1/admin/keys': { summary: 'The API keys', tag: 'Administration', status: 200, answer: A.Keys },
  'DELETE /v1/admin/keys/:id': { summary: 'Revoke an API key', tag: 'Administration', status: 200, answer: A.ApiKey },
  'GET /v1/admin/audit': {
    summary: 'The audit trail', tag: 'Administration', status: 200, answer: A.AuditPage,
    query: { ...page, from: { description: 'an instant' }, to: { description: 'an instant' }, keyId: { description: 'one key\'s actions' }, action: { description: 'one action' } },
  },

  'POST /v1/admin/webhooks': { summary: 'Subscribe a URL to events', tag: 'Webhooks', body: B.WebhookBody, status: 201, answer: A.WebhookCreated },
  'GET /v1/admin/webhooks': { summary: 'The subscriptions', tag: 'Webhooks', status: 200, answer: A.Webhooks },
  'GET /v1/admin/webhooks/:id': { summary: 'A subscription and its failed deliveries', tag: 'Webhooks', status: 200, answer: A.WebhookWithFailures },
  'DELETE /v1/admin/webhooks/:id': { summary: 'Delete a subscription', tag: 'Webhooks', status: 200, answer: A.WebhookDeleted },
  'GET /v1/admin/webhooks/:id/deliveries': { summary: 'A subscription\'s delivery attempts', tag: 'Webhooks', status: 200, answer: A.Deliveries, query: page },
  'POST /v1/admin/webhooks/:id/redeliver': { summary: 'Send events again from one on', tag: 'Webhooks', body: B.RedeliverBody, status: 202, answer: A.Redelivery },
} as const satisfies Record<string, RouteDoc>;

/** The catalogue looked up by a key known only at run time. */
export const ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = CATALOGUE;

/** The catalogue's key of a route. */
export const routeKey = (method: string, path: string): string => `${method} ${path}`;
