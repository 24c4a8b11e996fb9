// Idempotency keys unique per deployment, whatever shard the member is on. Each key has a home
// shard, hash(key) mod shards. An op whose member lives elsewhere first claims its key there,
// durably, bound to its member and fingerprint (a `claim` op through the home shard's group
// commit); an op whose member lives on the key's home is checked there against such claims. A key
// held for another member or body is `409 idempotency_conflict`; a retry finds its own claim.
import { Hash53 } from '../rules/fingerprint.js';
import { opError } from '../errors.js';
import { CLAIM_CONFLICT, CLAIM_KEY_PREFIX, CLAIM_REPLAYED, type ClaimOp, type OpResult, type WriteOp } from '../ops.js';
import { hashId } from './member-hash.js';
import type { ShardClient } from './shard-client.js';

/** What a claim answered: the op may go on, or its result is the claim's refusal. */
export interface Claim {
  /** The claim's refusal (a conflict, a full queue), or null when the key is held for this op. */
  refusal: OpResult | null;
  /** Whether this claim was new: if its op is then refused, the claim is released again. */
  fresh: boolean;
  /** The home shard the claim is held on, and the claim as held (a release names it again). */
  home: number;
  claimKey: string;
  claimFp: number;
  memberId: string;
}

/** An op whose key is to be claimed on shard `home` for `memberId`. */
export interface ClaimRequest { op: WriteOp & { key: string; fp: number }; memberId: string; home: number }

/** Keys that need a claim: registrations' land on their key's shard by construction, credits' are unique by construction. */
const CLAIMED_PREFIXES = ['order:', 'prod:', 'ret:', 'req:'];

/** The fingerprint of a claim: the member and the op's fingerprint, so another member or body conflicts. */
function claimFingerprint(memberId: string, fp: number): number {
  return new Hash53().update(memberId).update('\0').update(String(fp)).digest();
}

const conflict = (): OpResult => ({ ok: false, error: opError('idempotency_conflict') });

export class KeyClaims {
  /**
   * Ops with a claimed key in flight in this process, by key. A refused op releases its fresh
   * claim only when no other op with the same key is in flight: a concurrent retry may rely on it.
   */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly shards: readonly ShardClient[]) {}

  /**
   * Where the op's key lives relative to its member: 'none' (nothing to claim), 'local' (the
   * member is on the key's home shard: the op is marked to be checked against claims there), or
   * the home shard's index, where the key must be claimed first.
   */
  homeOf(op: WriteOp, memberShard: number): 'none' | 'local' | number {
    if (this.shards.length === 1 || !('key' in op)) return 'none';
    const key = op.key;
    if (!CLAIMED_PREFIXES.some((p) => key.startsWith(p))) return 'none';
    const home = hashId(key) % this.shards.length;
    return home === memberShard ? 'local' : home;
  }

  /**
   * Claims the keys of several ops, one claim op per home shard (columns, one task and one
   * promise per shard rather than per op); answers one Claim per request, in order. `settle` must
   * follow for each once its op is answered, whatever happened. `urgent`: the claims join their
   * home shard's next batch ahead of its queue (ShardClient.submit); claims that must keep their
   * place behind ops queued before them (a key repeated within a batch) are not urgent.
   */
  claimAll(requests: readonly ClaimRequest[], admitted: boolean, urgent: boolean, failure: (err: unknown) => OpResult): Promise<Claim[]> {
    const claims: Claim[] = new Array(requests.length);
    const byHome = new Map<number, { op: ClaimOp; at: number[] }>();
    for (let j = 0; j < requests.length; j++) {
      const { op, memberId, home } = requests[j]!;
      this.inFlight.set(op.key, (this.inFlight.get(op.key) ?? 0) + 1);
      const claim: Claim = { refusal: null, fresh: false, home, claimKey: CLAIM_KEY_PREFIX + op.key, claimFp: claimFingerprint(memberId, op.fp), memberId };
      claims[j] = claim;
      let group = byHome.get(home);
      if (group === undefined) {
        group = { op: { op: 'claim', keys: [], fps: [], memberIds: [], release: false, atMs: op.atMs, memberId: '' }, at: [] };
        byHome.set(home, group);
      }
      group.op.keys.push(claim.claimKey);
      group.op.fps.push(claim.claimFp);
      group.op.memberIds.push(memberId);
      group.at.push(j);
    }
    const sent = [...byHome].map(([home, { op, at }]) => this.shards[home]!.submit(op, admitted, urgent).then((r) => {
      if (!r.ok) { for (const j of at) claims[j]!.refusal = r; return; }
      const outcomes = r['outcomes'] as number[];
      at.forEach((j, k) => {
        const outcome = outcomes[k]!;
        if (outcome === CLAIM_CONFLICT) claims[j]!.refusal = conflict();
        else claims[j]!.fresh = outcome !== CLAIM_REPLAYED;
      });
    }, (err: unknown) => {
      // The claim op was not queued or its batch did not commit: nothing was claimed.
      const refusal = failure(err);
      for (const j of at) claims[j]!.refusal = refusal;
    }));
    return Promise.all(sent).then(() => claims);
  }

  /** The op with a claimed key is answered: `succeeded`, whether its result (or the claim's refusal) is ok, all a release needs. */
  settle(key: string, claim: Claim, succeeded: boolean): void {
    const others = (this.inFlight.get(key) ?? 1) - 1;
    if (others === 0) this.inFlight.delete(key); else this.inFlight.set(key, others);
    if (claim.refusal !== null || !claim.fresh || succeeded || others > 0) return;
    // Nothing of the refused op was written: the key is free again. A crash before the release
    // leaves the key bound to this member and body, which refuses only a different reuse. Urgent
    // as claims are, so that a later claim of the key never overtakes this release.
    const release: ClaimOp = { op: 'claim', keys: [claim.claimKey], fps: [claim.claimFp], memberIds: [claim.memberId], release: true, atMs: 0, memberId: '' };
    this.shards[claim.home]!.submit(release, true, true).catch(() => { /* the claim stays: conservative */ });
  }
}
