// The RFM report (docs/rules.md §10) over every member: recency, frequency and monetary scores 1-5 by
// quintile across all members, and the segment each member falls in, by the rules in the README
// ("Reports"). The shards send raw columns (engine/rules/reports.ts); scoring needs all of them at once.
import { LoyaltyError } from '../errors.js';
import { RFM_MEMBERS_LISTED_MAX } from '../limits.js';
import type { RfmColumns } from './reports.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** A member registered this recently, with at most one purchase, is `new` whatever the scores say. */
export const RFM_NEW_MEMBER_DAYS = 30;

export const RFM_SEGMENTS = ['champions', 'loyal', 'at_risk', 'hibernating', 'new', 'others'] as const;
export type RfmSegment = typeof RFM_SEGMENTS[number];

export interface RfmMember {
  memberId: string;
  /** Whole days from the last purchase to asOf (0 if it was later); null if the member never purchased. */
  recencyDays: number | null;
  frequency: number;
  monetaryCents: number;
  r: number; f: number; m: number;
}

export interface RfmReport {
  asOf: string;
  members: number;
  segments: Record<RfmSegment, { count: number; members?: RfmMember[] }>;
}

/**
 * Quintile scores: a member's score is 1 + floor(5 × (members strictly worse) / n), so equal
 * values share a score and the best fifth scores 5.
 */
function quintiles(values: number[], higherIsBetter: boolean): number[] {
  const n = values.length;
  const worstFirst = (a: number, b: number) => (a === b ? 0 : (a < b) === higherIsBetter ? -1 : 1);
  const sorted = [...values].sort(worstFirst);
  // For each distinct value, how many members are strictly worse: its first index in worst-first order.
  const worseCount = new Map<number, number>();
  sorted.forEach((v, i) => { if (!worseCount.has(v)) worseCount.set(v, i); });
  return values.map((v) => 1 + Math.floor((5 * worseCount.get(v)!) / n));
}

export function segmentOf(s: { r: number; f: number; m: number }, createdAt: number, frequency: number, asOfMs: number): RfmSegment {
  if (createdAt > asOfMs - RFM_NEW_MEMBER_DAYS * DAY_MS && frequency <= 1) return 'new';
  if (s.r >= 4 && s.f >= 4 && s.m >= 4) return 'champions';
  if (s.r >= 3 && s.f >= 3) return 'loyal';
  if (s.r <= 2 && s.f >= 3) return 'at_risk';
  if (s.r <= 2) return 'hibernating';
  return 'others';
}

/** Scores and segments every member registered by `asOfMs`; lists the members of `only` (or of all). */
export function rfmReport(parts: RfmColumns[], asOfMs: number, only?: RfmSegment): RfmReport {
  const ids: string[] = [];
  const recency: Array<number | null> = [];
  const frequency: number[] = [];
  const monetary: number[] = [];
  const created: number[] = [];
  for (const p of parts) {
    for (let i = 0; i < p.memberIds.length; i++) {
      if (p.createdAt[i]! > asOfMs) continue;
      const last = p.lastPurchaseAt[i]!;
      ids.push(p.memberIds[i]!);
      recency.push(last === -1 ? null : Math.max(0, Math.floor((asOfMs - last) / DAY_MS)));
      frequency.push(p.purchaseCount[i]!);
      monetary.push(p.lifetimeSpendCents[i]!);
      created.push(p.createdAt[i]!);
    }
  }
  // Never having purchased is the worst recency of all.
  const r = quintiles(recency.map((d) => (d === null ? Number.POSITIVE_INFINITY : d)), false);
  const f = quintiles(frequency, true);
  const m = quintiles(monetary, true);
  const segments = Object.fromEntries(RFM_SEGMENTS.map((s) => [s, { count: 0 } as { count: number; members?: RfmMember[] }])) as RfmReport['segments'];
  let listed = 0;
  for (const s of RFM_SEGMENTS) if (only === undefined || only === s) segments[s].members = [];
  const order = ids.map((_, i) => i).sort((a, b) => (ids[a]! < ids[b]! ? -1 : 1));
  for (const i of order) {
    const scores = { r: r[i]!, f: f[i]!, m: m[i]! };
    const seg = segments[segmentOf(scores, created[i]!, frequency[i]!, asOfMs)];
    seg.count += 1;
    if (seg.members === undefined) continue;
    if (++listed > RFM_MEMBERS_LISTED_MAX) {
      throw new LoyaltyError('payload_too_large', `more than ${RFM_MEMBERS_LISTED_MAX} members to list: ask for one segment with ?segment=`);
    }
    seg.members.push({ memberId: ids[i]!, recencyDays: recency[i]!, frequency: frequency[i]!, monetaryCents: monetary[i]!, ...scores });
  }
  return { asOf: new Date(asOfMs).toISOString(), members: ids.length, segments };
}
