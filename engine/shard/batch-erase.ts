// The erasure of a member's personal data (docs/rules.md §15): name, phone, email, birthday, gender
// and address leave the profile (and with it the search index) and the batch log's entries that
// carried them (engine/shard/log-redaction.ts), the state forgets the birthday, the member is
// marked erased, and a `member_erase` entry records it. The figures stay: the ledger,
// orders and balances hold no personal data. Stored answers of the member's registration, which
// echo its profile, are removed or replaced by the erased member's. Erasing an erased member again changes
// nothing and answers the first erasure's time.
import type { EraseOp, OpResult } from '../ops.js';
import type { MemberProfile } from '../rules/member-state.js';
import { entry, type BatchMember, type BatchScope } from './batch-scope.js';
import { carriesPersonalData, PERSONAL_FIELDS, redactMemberLog } from './log-redaction.js';

export { PERSONAL_FIELDS } from './log-redaction.js';

/**
 * The meta key counting the erasures this shard committed: the worker compacts the data file
 * after them (engine/shard/compaction.ts), and at start when one came after the last compaction.
 */
export const ERASURES_META_KEY = 'erasures';

/**
 * Notes in the member's profile that the batch's log entry carries personal data of the member
 * (a registration, an imported row or a patch naming a personal field), so that an erasure finds
 * the entries without scanning the log. The profile is written by such an op anyway.
 */
export function notePersonalLogEntry(b: BatchScope, m: BatchMember, op: Partial<Record<typeof PERSONAL_FIELDS[number], unknown>>): void {
  if (m.profile === null || !carriesPersonalData(op)) return;
  const seqs = m.profile.logSeqs ?? [];
  const seq = b.logSeq;
  if (seqs[seqs.length - 1] !== seq) m.profile.logSeqs = [...seqs, seq];
}

/** The profile without its personal data, marked erased at `atMs`. */
export function erasedProfile(p: MemberProfile, atMs: number): MemberProfile {
  const kept: MemberProfile = { ...p };
  for (const f of PERSONAL_FIELDS) delete kept[f];
  delete kept.logSeqs;
  kept.erasedAt = atMs;
  return kept;
}

export function finishErase(b: BatchScope, op: EraseOp, m: BatchMember): OpResult {
  if (m.state.erasedAt === undefined) {
    const profile = m.profile ?? b.store.members.get(op.memberId);
    if (profile === undefined || profile === null) throw new Error(`member ${op.memberId} has a state but no profile`);
    const seqs = profile.logSeqs ?? [];
    const names = redactMemberLog(b.store, op.memberId, seqs);
    // The member's registration or patch in this very batch: its entry is redacted before it is written.
    if (seqs.includes(b.logSeq)) b.pendingRedactions.push({ memberId: op.memberId, names });
    b.store.meta.putSync(ERASURES_META_KEY, ((b.store.meta.get(ERASURES_META_KEY) as number | undefined) ?? 0) + 1);
    m.profile = erasedProfile(profile, op.atMs);
    m.profileDirty = true;
    m.state.erasedAt = op.atMs;
    m.state.birthdayMonth = 0;
    m.state.birthdayDay = 0;
    b.append(m, entry(op.atMs, 'member_erase', op.memberId, op.key, {}));
    // The registration's stored answer echoes the profile. Keyed by the member id, it goes: a
    // registration naming the member is refused `member_erased` from now on. Keyed by a requestId,
    // a retry of it answers the erased member (a new id would register someone else).
    b.store.keys.removeSync(`reg:m:${op.memberId}`);
    if (profile.regKey !== undefined) {
      const stored = b.store.keys.get(profile.regKey);
      if (stored !== undefined) b.store.keys.putSync(profile.regKey, { fp: stored.fp, res: { memberId: op.memberId, erased: true } });
    }
  }
  return { ok: true, memberId: op.memberId, erased: true, erasedAt: new Date(m.state.erasedAt).toISOString(), replayed: false };
}
