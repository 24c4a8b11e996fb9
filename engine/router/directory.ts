// The phone/email directory: which member holds each phone and each email, over every shard. It is
// the one authority on their uniqueness (shards keep no index), held in memory and rebuilt from the
// members' profiles at every start.
import type { OpResult, PatchOp, RegisterOp } from '../ops.js';
import type { DirectoryPart } from '../shard-protocol.js';

/** What Directory.claim claimed for an op, as bits. */
export const CLAIMED_PHONE = 1;
export const CLAIMED_EMAIL = 2;

export class Directory {
  private readonly phones = new Map<string, string>();
  private readonly emails = new Map<string, string>();

  /**
   * `phoneKey` turns a phone as a profile stores it into the directory's key (E.164): profiles
   * written before phones were kept in E.164 hold other spellings.
   */
  constructor(private readonly phoneKey: (stored: string) => string = (p) => p) {}

  /**
   * Adds one shard's part, read from its profiles at start. When two profiles stored before phones
   * were kept in E.164 spell one number differently, the smaller member id holds it.
   */
  load(part: DirectoryPart): void {
    for (let i = 0; i < part.phones.length; i++) {
      const phone = this.phoneKey(part.phones[i]!);
      const held = this.phones.get(phone);
      if (held === undefined || part.phoneOwners[i]! < held) this.phones.set(phone, part.phoneOwners[i]!);
    }
    for (let i = 0; i < part.emails.length; i++) this.emails.set(part.emails[i]!, part.emailOwners[i]!);
  }

  /** Forgets every phone and email: a node that stepped down reads the directory again at its next takeover. */
  clear(): void {
    this.phones.clear();
    this.emails.clear();
  }

  /** The member holding this phone, if any. */
  phoneOwner(phone: string): string | undefined {
    return this.phones.get(phone);
  }

  /**
   * Holds the op's phone and email while it is in flight, or marks the op with the field another
   * member holds (the shard then refuses it). Returns what it claimed: CLAIMED_PHONE and/or
   * CLAIMED_EMAIL.
   */
  claim(op: RegisterOp | PatchOp): number {
    const phoneOwner = op.phone === undefined ? undefined : this.phones.get(op.phone);
    const emailOwner = op.email === undefined ? undefined : this.emails.get(op.email);
    if (phoneOwner !== undefined && phoneOwner !== op.memberId) { op.taken = 'phone_taken'; return 0; }
    if (emailOwner !== undefined && emailOwner !== op.memberId) { op.taken = 'email_taken'; return 0; }
    let claimed = 0;
    if (op.phone !== undefined && phoneOwner === undefined) { this.phones.set(op.phone, op.memberId); claimed |= CLAIMED_PHONE; }
    if (op.email !== undefined && emailOwner === undefined) { this.emails.set(op.email, op.memberId); claimed |= CLAIMED_EMAIL; }
    return claimed;
  }

  /** Frees an erased member's phone and email (docs/rules.md §15): another member may take them now. */
  releaseMember(memberId: string, phone: string | null, email: string | null): void {
    if (phone !== null && this.phones.get(this.phoneKey(phone)) === memberId) this.phones.delete(this.phoneKey(phone));
    if (email !== null && this.emails.get(email) === memberId) this.emails.delete(email);
  }

  /**
   * Releases the op's claims and records what the shard answered: the member's phone and email
   * (null when the op did not run).
   */
  settle(op: RegisterOp | PatchOp, claimed: number, result: OpResult | null): void {
    if (result !== null && result.ok && result['memberId'] === op.memberId && result['releasedKeys'] === undefined
      && result['phone'] === (op.phone ?? null) && result['email'] === (op.email ?? null)) {
      // The member holds what the op claimed (the usual case): the claims simply stay.
      return;
    }
    if ((claimed & CLAIMED_PHONE) !== 0 && this.phones.get(op.phone!) === op.memberId) this.phones.delete(op.phone!);
    if ((claimed & CLAIMED_EMAIL) !== 0 && this.emails.get(op.email!) === op.memberId) this.emails.delete(op.email!);
    if (result === null || !result.ok) return;
    const memberId = result['memberId'] as string;
    const phone = result['phone'] as string | null;
    const email = result['email'] as string | null;
    if (phone !== null) this.phones.set(this.phoneKey(phone), memberId);
    if (email !== null) this.emails.set(email, memberId);
    // A profile change names the phone/email entries it released ('p:' + phone, 'e:' + email).
    const released = result['releasedKeys'] as string[] | undefined;
    if (released !== undefined) {
      for (const k of released) {
        const phone = k.startsWith('p:');
        const entries = phone ? this.phones : this.emails;
        const value = phone ? this.phoneKey(k.slice(2)) : k.slice(2);
        if (entries.get(value) === memberId) entries.delete(value);
      }
      delete result['releasedKeys'];
    }
  }
}
