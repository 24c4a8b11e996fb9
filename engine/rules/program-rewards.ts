// Validates the program's counter-side parts (docs/program.md, Rewards and count cards): the
// rewards members exchange points for, the count card a loyalty product may include, and the staff
// commission. Called from the program validator (program.ts), which owns the rest of the document.
import { CARD_USES_OP_MAX, DAYS_MAX, POINTS_OP_MAX, AMOUNT_CENTS_MAX, REWARD_STOCK_MAX, SAFE_INTEGER_MAX, TEXT_LENGTH_MAX } from '../limits.js';
import type { CardInclude, Reward } from './program-types.js';
import {
  FieldError, type Fields, boolField, enumField, fieldPath, has, idField, indexPath, intField, nullableInt, readObject, stringField,
} from './validate.js';
import { readTierList, readWindowDate } from './program.js';

const REWARD_KEYS = [
  'id', 'name', 'active', 'pointsCost', 'cashCents', 'kind', 'couponTemplateId', 'eligibleTiers', 'stock', 'perMemberMax', 'from', 'to',
] as const;
const CARD_KEYS = ['serviceId', 'serviceName', 'uses', 'validDays'] as const;
const REWARD_KINDS = ['goods', 'coupon'] as const;

/**
 * Reward ids the API's paths spell as a word of their own: `redemptions` names the redemptions
 * beside the rewards, so a reward of that id could not be restocked or reported by its id.
 */
export const RESERVED_REWARD_IDS: ReadonlySet<string> = new Set(['redemptions']);

/**
 * The rewards list: ids unique, a coupon reward naming a template of the program and a goods
 * reward none. Defaults: `active` true, `cashCents` 0, `kind` "goods", `couponTemplateId`,
 * `eligibleTiers`, `stock`, `perMemberMax`, `from` and `to` null.
 */
export function readRewards(items: unknown[], tierIds: ReadonlySet<string>, templateIds: ReadonlySet<string>): Reward[] {
  const seen = new Set<string>();
  return items.map((item, index) => {
    const path = indexPath('rewards', index);
    const reward = readReward(item, path, tierIds, templateIds);
    if (seen.has(reward.id)) throw new FieldError(fieldPath(path, 'id'), 'duplicate reward id');
    seen.add(reward.id);
    return reward;
  });
}

function readReward(item: unknown, path: string, tierIds: ReadonlySet<string>, templateIds: ReadonlySet<string>): Reward {
  const obj = readObject(item, path, REWARD_KEYS);
  const id = idField(obj, 'id', path);
  if (RESERVED_REWARD_IDS.has(id)) throw new FieldError(fieldPath(path, 'id'), `must not be "${id}": the API's paths use that word for redemptions`);
  const name = stringField(obj, 'name', path, { maxLength: TEXT_LENGTH_MAX });
  const active = has(obj, 'active') ? boolField(obj, 'active', path) : true;
  // A reward of 0 points is a gift that still counts against its stock and the member's cap.
  const pointsCost = intField(obj, 'pointsCost', path, { min: 0, max: POINTS_OP_MAX });
  const cashCents = has(obj, 'cashCents') ? intField(obj, 'cashCents', path, { min: 0, max: AMOUNT_CENTS_MAX }) : 0;
  const kind = has(obj, 'kind') ? enumField(obj, 'kind', path, REWARD_KINDS) : 'goods';
  const couponTemplateId = readTemplate(obj, path, kind, templateIds);
  const eligibleTiers = has(obj, 'eligibleTiers') ? readTierList(obj, 'eligibleTiers', path, tierIds) : null;
  // A stock of 0 is a reward shown sold out until a restock.
  const stock = has(obj, 'stock') ? nullableInt(obj, 'stock', path, { min: 0, max: REWARD_STOCK_MAX }) : null;
  const perMemberMax = has(obj, 'perMemberMax') ? nullableInt(obj, 'perMemberMax', path, { min: 1, max: SAFE_INTEGER_MAX }) : null;
  const from = readWindowDate(obj, 'from', path);
  const to = readWindowDate(obj, 'to', path);
  // Dates YYYY-MM-DD compare as text.
  if (from !== null && to !== null && to < from) throw new FieldError(fieldPath(path, 'to'), 'must not be before from');
  return { id, name, active, pointsCost, cashCents, kind, couponTemplateId, eligibleTiers, stock, perMemberMax, from, to };
}

/** A coupon reward's template (required, one of the program's); a goods reward has none (absent or null). */
function readTemplate(obj: Fields, path: string, kind: Reward['kind'], templateIds: ReadonlySet<string>): string | null {
  const given = has(obj, 'couponTemplateId') && obj['couponTemplateId'] !== null;
  if (kind === 'goods') {
    if (given) throw new FieldError(fieldPath(path, 'couponTemplateId'), 'only a coupon reward names a template');
    return null;
  }
  if (!given) throw new FieldError(fieldPath(path, 'couponTemplateId'), 'required for a coupon reward');
  const templateId = idField(obj, 'couponTemplateId', path);
  if (!templateIds.has(templateId)) throw new FieldError(fieldPath(path, 'couponTemplateId'), 'unknown coupon template id');
  return templateId;
}

/**
 * A product's `card` include: `{ serviceId, serviceName?, uses ≥ 1, validDays (≥ 1, or null: never
 * expires) }`. `serviceName` is what the console and receipts show for the service; absent, they
 * show its id. Programs written before it existed read unchanged, so it is kept only when given.
 */
export function readCardInclude(obj: Fields, path: string): CardInclude {
  const card = readObject(obj['card'], fieldPath(path, 'card'), CARD_KEYS);
  const cardPath = fieldPath(path, 'card');
  const include: CardInclude = {
    serviceId: idField(card, 'serviceId', cardPath),
    uses: intField(card, 'uses', cardPath, { min: 1, max: CARD_USES_OP_MAX }),
    validDays: has(card, 'validDays') ? nullableInt(card, 'validDays', cardPath, { min: 1, max: DAYS_MAX }) : null,
  };
  if (has(card, 'serviceName')) include.serviceName = stringField(card, 'serviceName', cardPath, { maxLength: TEXT_LENGTH_MAX });
  return include;
}

/**
 * Products renewing one service's card name it alike: a member holds one card per service, so two
 * names for it would make the same card read differently depending on the product last bought.
 */
export function checkServiceNames(products: ReadonlyArray<{ includes: { card?: CardInclude } }>): void {
  const names = new Map<string, string | undefined>();
  products.forEach((product, index) => {
    const card = product.includes.card;
    if (card === undefined) return;
    if (!names.has(card.serviceId)) { names.set(card.serviceId, card.serviceName); return; }
    const first = names.get(card.serviceId);
    if (first !== card.serviceName) {
      throw new FieldError(`products[${index}].includes.card.serviceName`, `must be the same for every product of service ${card.serviceId}`);
    }
  });
}

/** `staffCommissionBps`: 0..10,000 basis points of net sales (default 0). */
export function readStaffCommission(obj: Fields): number {
  return has(obj, 'staffCommissionBps') ? intField(obj, 'staffCommissionBps', '', { min: 0, max: 10_000 }) : 0;
}
