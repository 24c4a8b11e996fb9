// What a key's role may do in the console, from the API's roles (docs/api.md "Authentication and
// roles"): the console shows a control only to a role the server would let use it.
import type { Role } from '../api/types.js';

export interface Capabilities {
  /** Register, edit, record purchases and returns, top up, redeem rewards, use cards: the "writers" endpoints. */
  writeMembers: boolean;
  /** Adjust points, withdraw from a wallet, issue a coupon by hand. */
  adminMembers: boolean;
  /** Change the program and preview a change (what-if). */
  editProgram: boolean;
  /** Add units to a reward's stock or take them off. */
  restockRewards: boolean;
  /** Add uses to a member's count card or take them away, with a reason. */
  adjustCards: boolean;
  importMembers: boolean;
  exportData: boolean;
  manageKeys: boolean;
  /** Erase a member's personal data (admin only, docs/api.md "POST /v1/members/{id}/erase"). */
  eraseMembers: boolean;
  /** Webhook subscriptions, their deliveries and redelivery: the API allows an admin key only. */
  manageWebhooks: boolean;
  /** The audit trail of administrative actions: the API allows an admin key only. */
  readAudit: boolean;
}

export function capabilitiesOf(role: Role | null): Capabilities {
  const admin = role === 'admin';
  const writer = admin || role === 'pos' || role === 'storefront';
  return {
    writeMembers: writer,
    adminMembers: admin,
    editProgram: admin,
    restockRewards: admin,
    adjustCards: admin,
    importMembers: admin,
    exportData: admin || role === 'reader',
    manageKeys: admin,
    eraseMembers: admin,
    manageWebhooks: admin,
    readAudit: admin,
  };
}
