// The count card op family (docs/rules.md §14.3) inside a batch: a loyalty product gives a card or
// renews the member's live card for its service, a use takes uses from it, an admin adjusts it, and
// the sweep lapses the uses of a card past its expiry. Every change writes the card's record, its
// expiry index entry and a ledger entry on the member (kind card_*, ref = the service id, the change
// of uses in `usesDelta`), in the batch's transaction; a use also records who used it where.
import assert from 'node:assert/strict';
import { CARD_USES_MAX } from '../limits.js';
import type { CardAdjustOp, CardUseOp, LedgerKind, OpResult, StoredEntry } from '../ops.js';
import type { CardInclude } from '../rules/program-types.js';
import { cardExpiryMs, cardLapsedAt, laterExpiry, type CardRecord } from '../rules/rewards.js';
import { entry, fail, type BatchMember, type BatchScope } from './batch-scope.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The member's balances every mutating answer carries (docs/rules.md §8). */
const balances = (m: BatchMember) => ({ points: m.running.points, walletBalanceCents: m.running.walletCents, tierId: m.running.tierId });

export function getCard(b: BatchScope, memberId: string, serviceId: string): CardRecord | undefined {
  return b.store.cards.get([memberId, serviceId]);
}

/** Writes the card and moves its expiry index entry from `dueBefore` (null: none) to where the card now is due. */
function putCard(b: BatchScope, c: CardRecord, dueBefore: number | null): void {
  b.store.cards.putSync([c.memberId, c.serviceId], c);
  const dueNow = c.state === 'active' ? c.expiresAtMs : null;
  if (dueBefore === dueNow) return;
  if (dueBefore !== null) b.store.cardDue.removeSync([dueBefore, c.memberId, c.serviceId]);
  if (dueNow !== null) b.store.cardDue.putSync([dueNow, c.memberId, c.serviceId], '');
}

/** Where the card is in the expiry index now (null: not there). */
const dueOf = (c: CardRecord | undefined): number | null => (c === undefined || c.state !== 'active' ? null : c.expiresAtMs);

/** A card entry: an entry of the usual shape with the change of uses. */
function cardEntry(atMs: number, kind: LedgerKind, c: CardRecord, usesDelta: number, cause: number | null): StoredEntry {
  const e = entry(atMs, kind, c.memberId, c.serviceId, {}, cause);
  e.usesDelta = usesDelta;
  return e;
}

/** The card as answers and the member's cards list show it. */
export function cardView(c: CardRecord): Record<string, unknown> {
  return {
    serviceId: c.serviceId, state: c.state, usesLeft: c.usesLeft, expiresAt: iso(c.expiresAtMs),
    since: iso(c.sinceMs), renewedAt: iso(c.renewedAtMs), usedTotal: c.usedTotal,
  };
}

/** Lapses an active card's uses at its expiry (`card_expire`, dated then). */
function expireCard(b: BatchScope, m: BatchMember, c: CardRecord): void {
  assert.ok(c.state === 'active' && c.expiresAtMs !== null, `card ${c.memberId}/${c.serviceId} cannot expire`);
  const dueBefore = dueOf(c);
  const lapsed = c.usesLeft;
  c.state = 'expired';
  c.usesLeft = 0;
  putCard(b, c, dueBefore);
  b.append(m, cardEntry(c.expiresAtMs, 'card_expire', c, -lapsed, null));
}

/**
 * Why a product's card cannot be given to the member at `atMs`, or null: a renewal may not take a
 * live card past CARD_USES_MAX. Checked before anything of the product purchase is written.
 */
export function cardGiftProblem(b: BatchScope, m: BatchMember, include: CardInclude, atMs: number): OpResult | null {
  const c = getCard(b, m.memberId, include.serviceId);
  const live = c !== undefined && !cardLapsedAt(c, atMs) ? c.usesLeft : 0;
  if (live + include.uses > CARD_USES_MAX) return fail('balance_limit', `the card would hold more than ${CARD_USES_MAX} uses`, 'productId');
  return null;
}

/**
 * Gives the member the product's card, or renews the live one: its uses are added and its expiry
 * becomes the later of the two. A card past its expiry that the sweep has not reached yet lapses
 * first, dated at its expiry; the purchase then starts a new card. `cause`: the product entry.
 */
export function giveCard(b: BatchScope, m: BatchMember, include: CardInclude, atMs: number, cause: number): Record<string, unknown> {
  const tz = b.ctx.program.timezone;
  let c = getCard(b, m.memberId, include.serviceId);
  if (c !== undefined && c.state === 'active' && cardLapsedAt(c, atMs)) expireCard(b, m, c);
  const expiresAtMs = cardExpiryMs(include, atMs, tz);
  const dueBefore = dueOf(c);
  if (c === undefined || c.state === 'expired') {
    c = {
      memberId: m.memberId, serviceId: include.serviceId, state: 'active', usesLeft: include.uses, expiresAtMs,
      sinceMs: atMs, renewedAtMs: atMs, usedTotal: c?.usedTotal ?? 0,
    };
  } else {
    c.usesLeft += include.uses;
    c.expiresAtMs = laterExpiry(c.expiresAtMs, expiresAtMs);
    c.renewedAtMs = atMs;
  }
  putCard(b, c, dueBefore);
  b.append(m, cardEntry(atMs, 'card_add', c, include.uses, cause));
  return cardView(c);
}

/** A use of the member's card for a service (POST /v1/cards/uses, the stream's `card_use`). */
export function finishCardUse(b: BatchScope, op: CardUseOp, m: BatchMember): OpResult {
  const c = getCard(b, op.memberId, op.serviceId);
  if (c === undefined) return fail('card_not_found', undefined, 'serviceId');
  if (cardLapsedAt(c, op.atMs)) return fail('card_expired', `the card expired at ${iso(c.expiresAtMs)}`, 'serviceId');
  if (c.usesLeft < op.uses) return fail('card_exhausted', `${c.usesLeft} uses left`, 'uses');
  c.usesLeft -= op.uses;
  c.usedTotal += op.uses;
  putCard(b, c, dueOf(c));
  const seq = b.append(m, cardEntry(op.atMs, 'card_use', c, -op.uses, null));
  b.store.cardUses.putSync([op.atMs, seq], { memberId: op.memberId, serviceId: op.serviceId, uses: op.uses, storeId: op.storeId ?? null, staffId: op.staffId ?? null });
  return { ok: true, memberId: op.memberId, ...cardView(c), usesTaken: op.uses, ...balances(m), replayed: false };
}

/** An admin's change of a card's uses, either way, with a reason (POST /v1/cards/adjustments). */
export function finishCardAdjust(b: BatchScope, op: CardAdjustOp, m: BatchMember): OpResult {
  const c = getCard(b, op.memberId, op.serviceId);
  if (c === undefined) return fail('card_not_found', undefined, 'serviceId');
  if (cardLapsedAt(c, op.atMs)) return fail('card_expired', `the card expired at ${iso(c.expiresAtMs)}`, 'serviceId');
  if (c.usesLeft + op.uses < 0) return fail('card_exhausted', `${c.usesLeft} uses left`, 'uses');
  if (c.usesLeft + op.uses > CARD_USES_MAX) return fail('balance_limit', `the card would hold more than ${CARD_USES_MAX} uses`, 'uses');
  c.usesLeft += op.uses;
  putCard(b, c, dueOf(c));
  const e = cardEntry(op.atMs, 'card_adjust', c, op.uses, null);
  e.reason = op.reason;
  b.append(m, e);
  return { ok: true, memberId: op.memberId, ...cardView(c), usesDelta: op.uses, reason: op.reason, ...balances(m), replayed: false };
}

/**
 * The sweep's card expiries: active cards whose expiry is at or before `asOfMs`, at most `limit`,
 * each lapsed dated at its expiry. Returns how many and whether more are due.
 */
export function expireCards(b: BatchScope, asOfMs: number, limit: number): { cards: number; more: boolean } {
  const due: Array<[number, string, string]> = [];
  let more = false;
  for (const { key } of b.store.cardDue.getRange({ end: [asOfMs, '\uffff', '\uffff'] })) {
    if (due.length >= limit) { more = true; break; }
    due.push(key);
  }
  for (const [expiresAtMs, memberId, serviceId] of due) {
    const c = getCard(b, memberId, serviceId);
    assert.ok(c !== undefined && c.state === 'active' && c.expiresAtMs === expiresAtMs, `card expiry index out of step for ${memberId}/${serviceId}`);
    const m = b.load(memberId);
    assert.ok(m !== null, `card ${memberId}/${serviceId} belongs to no member`);
    expireCard(b, m, c);
  }
  return { cards: due.length, more };
}

/** Whether any card is due at or before `asOfMs` (the sweep's slice had no room left for it). */
export function cardsDue(b: BatchScope, asOfMs: number): boolean {
  return b.store.cardDue.getKeysCount({ end: [asOfMs, '\uffff', '\uffff'], limit: 1 }) > 0;
}
