// The erasure of a member's personal data (docs/rules.md §15): name, phone, email, birthday, gender
// and address leave the profile (and with it the search index), the state forgets the birthday,
// the member is marked erased, and a `member_erase` entry records it. The figures stay: the ledger,
// orders and balances hold no personal data. Stored answers of the member's registration, which
// echo its profile, are removed or replaced by the erased member's. Erasing an erased member again changes
// nothing and answers the first erasure's time.
import type { EraseOp, OpResult } from '../ops.js';
import type { MemberProfile } from '../rules/member-state.js';
import { entry, type BatchMember, type BatchScope } from './batch-scope.js';

/** The profile fields that are personal data, removed by an erasure; store, channel and staff stay. */
export const PERSONAL_FIELDS = ['name', 'phone', 'email', 'birthday', 'gender', 'address'] as const;

/** The profile without its personal data, marked erased at `atMs`. */
export function erasedProfile(p: MemberProfile, atMs: number): MemberProfile {
  const kept: MemberProfile = { ...p };
  for (const f of PERSONAL_FIELDS) delete kept[f];
  kept.erasedAt = atMs;
  return kept;
}

export function finishErase(b: BatchScope, op: EraseOp, m: BatchMember): OpResult {
  if (m.state.erasedAt === undefined) {
    const profile = m.profile ?? b.store.members.get(op.memberId);
    if (profile === undefined || profile === null) throw new Error(`member ${op.memberId} has a state but no profile`);
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
