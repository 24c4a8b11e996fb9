// The ops of the cluster chaos run and the books they must leave: each op carries its own
// operation key, and once it has its final answer (applied, replayed, or refused for a business
// reason) the model adds the answer's effect to the member figures it expects. Every op's effect
// counts once whatever number of nodes it was sent to, so the engine's figures must equal these.
import type { StreamOp } from '../client/stream.js';

/** The kinds of op the run sends; each moves money or points. */
export type ChaosKind = 'register' | 'purchase' | 'return' | 'topup' | 'withdraw' | 'transfer' | 'adjust';

export interface ChaosOp {
  kind: ChaosKind;
  /** The op's key: the memberId of a registration, the orderId of a purchase, the returnId of a return, the requestId otherwise. */
  key: string;
  memberId: string;
  /** The credited member of a transfer. */
  toMemberId?: string;
  /** The order a return takes back. */
  orderId?: string;
  amountCents: number;
  points: number;
  /** The final answer: null until there is one. */
  answer: { ok: true; body: Record<string, unknown> } | { ok: false; code: string } | null;
  via: 'stream' | 'http';
}

/** A member's figures as the engine answers them (GET /v1/members/:id). */
export interface MemberFigures { points: number; walletCents: number; purchaseCount: number }

/** The op as the POS stream carries it. */
export function streamOpOf(op: ChaosOp): StreamOp {
  switch (op.kind) {
    case 'register': return { op: 'register', memberId: op.memberId, name: `Chaos ${op.memberId}` };
    case 'purchase': return { op: 'purchase', orderId: op.key, memberId: op.memberId, amountCents: op.amountCents };
    case 'return': return { op: 'return', returnId: op.key, orderId: op.orderId!, amountCents: op.amountCents };
    case 'topup': return { op: 'topup', requestId: op.key, memberId: op.memberId, amountCents: op.amountCents };
    case 'withdraw': return { op: 'withdraw', requestId: op.key, memberId: op.memberId, amountCents: op.amountCents };
    case 'transfer': return { op: 'transfer', requestId: op.key, fromMemberId: op.memberId, toMemberId: op.toMemberId!, amountCents: op.amountCents };
    case 'adjust': return { op: 'adjust', requestId: op.key, memberId: op.memberId, points: op.points, reason: 'chaos run' };
  }
}

/** The op as an HTTP request: its path and body. */
export function httpRequestOf(op: ChaosOp): { path: string; body: Record<string, unknown> } {
  const { op: _name, ...body } = streamOpOf(op) as StreamOp & Record<string, unknown>;
  const paths: Record<ChaosKind, string> = {
    register: '/v1/members', purchase: '/v1/purchases', return: '/v1/returns', topup: '/v1/wallet/topups',
    withdraw: '/v1/wallet/withdrawals', transfer: '/v1/wallet/transfers', adjust: '/v1/points/adjustments',
  };
  return { path: paths[op.kind], body };
}

/** Totals of the run, from the final answers. */
export interface ChaosTotals { topupCents: number; withdrawnCents: number; transferredCents: number; refundedCents: number }

/** The figures every member must have, from the final answers of the ops that were applied (or replayed). */
export function expectedBooks(memberIds: readonly string[], ops: readonly ChaosOp[]): { members: Map<string, MemberFigures>; totals: ChaosTotals } {
  const members = new Map<string, MemberFigures>(memberIds.map((id) => [id, { points: 0, walletCents: 0, purchaseCount: 0 }]));
  const totals: ChaosTotals = { topupCents: 0, withdrawnCents: 0, transferredCents: 0, refundedCents: 0 };
  const num = (body: Record<string, unknown>, field: string): number => {
    const value = body[field];
    if (typeof value !== 'number') throw new Error(`an answer without ${field}: ${JSON.stringify(body).slice(0, 300)}`);
    return value;
  };
  for (const op of ops) {
    if (op.answer === null || !op.answer.ok) continue;
    const body = op.answer.body;
    const m = members.get(op.memberId)!;
    switch (op.kind) {
      case 'register': break;
      case 'purchase':
        m.purchaseCount += 1;
        m.points += num(body, 'earnedPoints') - num(body, 'redeemedPoints');
        m.walletCents -= num(body, 'walletCents');
        break;
      case 'return': {
        m.points += num(body, 'restoredPoints') - num(body, 'clawedBackPoints');
        const refund = num(body, 'walletRefundCents');
        m.walletCents += refund;
        totals.refundedCents += refund;
        break;
      }
      case 'topup': {
        const credit = num(body, 'amountCents') + num(body, 'bonusCents');
        m.walletCents += credit;
        totals.topupCents += credit;
        break;
      }
      case 'withdraw':
        m.walletCents -= num(body, 'amountCents');
        totals.withdrawnCents += num(body, 'amountCents');
        break;
      case 'transfer':
        m.walletCents -= num(body, 'amountCents');
        members.get(op.toMemberId!)!.walletCents += num(body, 'amountCents');
        totals.transferredCents += num(body, 'amountCents');
        break;
      case 'adjust':
        m.points += num(body, 'pointsDelta');
        break;
    }
  }
  return { members, totals };
}

/** A SIGKILL of the owner whose failover is not measured yet: the killed node and when. */
export interface PendingKill { nodeIndex: number; atMs: number }

/**
 * Whether a final answer ends the failover of `kill`: an answer through another node to an attempt
 * sent after the kill. An answer to an attempt sent before it can be the killed owner's own,
 * forwarded by a standby and arriving just after the kill (a run once measured a 3 ms failover
 * that way); an attempt sent after the kill can only have been applied by a living owner.
 */
export function endsFailover(kill: PendingKill | null, nodeIndex: number, sentAtMs: number): boolean {
  return kill !== null && nodeIndex !== kill.nodeIndex && sentAtMs > kill.atMs;
}
