// The counter-side part of the program validator (docs/program.md, Rewards and count cards):
// rewards with every default filled, a product's count card, the staff commission, programs stored
// before them read with their defaults, and the field path and reason of every refusal.

import { describe, expect, it } from 'vitest';
import { demoProgram, validateProgram, withProgramDefaults } from '../../engine/rules/program.js';
import type { Program } from '../../engine/rules/program-types.js';

type Doc = Record<string, any>;

function withRewards(): Doc {
  const doc = JSON.parse(JSON.stringify(demoProgram())) as Doc;
  doc.coupons = [{ id: 'tea5', name: 'HK$5 off tea', discount: { amountCents: 500 }, validDays: 30, totalMax: 100 }];
  doc.rewards = [
    { id: 'mug', name: 'Logo mug', pointsCost: 500, stock: 100 },
    {
      id: 'tea-coupon', name: 'Tea coupon', active: false, pointsCost: 50, cashCents: 100, kind: 'coupon', couponTemplateId: 'tea5',
      eligibleTiers: ['silver', 'gold'], stock: null, perMemberMax: 2, from: '2026-12-01', to: '2026-12-31',
    },
  ];
  doc.products.push({ id: 'haircut-10', name: 'Ten haircuts', priceCents: 80_000, includes: { card: { serviceId: 'haircut', uses: 10, validDays: 365 } } });
  doc.staffCommissionBps = 250;
  return doc;
}

function refusal(doc: unknown): string {
  const result = validateProgram(doc);
  if (result.ok) throw new Error('expected a refusal, but the document was accepted');
  return `${result.field}: ${result.message}`;
}

describe('validateProgram: rewards, count cards and staff', () => {
  it('accepts rewards filling every default, a product with a card, and the commission', () => {
    const result = validateProgram(withRewards());
    if (!result.ok) throw new Error(`${result.field}: ${result.message}`);
    expect(result.program.rewards).toEqual([
      {
        id: 'mug', name: 'Logo mug', active: true, pointsCost: 500, cashCents: 0, kind: 'goods', couponTemplateId: null,
        eligibleTiers: null, stock: 100, perMemberMax: null, from: null, to: null,
      },
      {
        id: 'tea-coupon', name: 'Tea coupon', active: false, pointsCost: 50, cashCents: 100, kind: 'coupon', couponTemplateId: 'tea5',
        eligibleTiers: ['silver', 'gold'], stock: null, perMemberMax: 2, from: '2026-12-01', to: '2026-12-31',
      },
    ]);
    expect(result.program.products[2]!.includes).toEqual({ card: { serviceId: 'haircut', uses: 10, validDays: 365 } });
    expect(result.program.staffCommissionBps).toBe(250);
  });

  it('a card without validDays never expires; a program without the new fields has none of them', () => {
    const doc = withRewards();
    doc.products[2].includes.card = { serviceId: 'wash', uses: 12 };
    const result = validateProgram(doc);
    if (!result.ok) throw new Error(result.message);
    expect(result.program.products[2]!.includes.card).toEqual({ serviceId: 'wash', uses: 12, validDays: null });
    const plain = validateProgram(demoProgram());
    if (!plain.ok) throw new Error(plain.message);
    expect(plain.program.rewards).toEqual([]);
    expect(plain.program.staffCommissionBps).toBe(0);
  });

  it('a card may name its service; products renewing one service name it alike', () => {
    const doc = withRewards();
    doc.products[2].includes.card.serviceName = 'Haircut';
    doc.products.push({ id: 'haircut-5', name: 'Five haircuts', priceCents: 45_000, includes: { card: { serviceId: 'haircut', serviceName: 'Haircut', uses: 5 } } });
    const result = validateProgram(doc);
    if (!result.ok) throw new Error(result.message);
    expect(result.program.products[2]!.includes.card).toEqual({ serviceId: 'haircut', serviceName: 'Haircut', uses: 10, validDays: 365 });
    doc.products[3].includes.card.serviceName = 'Hair cut';
    expect(refusal(doc)).toBe('products[3].includes.card.serviceName: must be the same for every product of service haircut');
    delete doc.products[3].includes.card.serviceName;
    expect(refusal(doc)).toBe('products[3].includes.card.serviceName: must be the same for every product of service haircut');
  });

  it('reads a program stored before rewards with no rewards and no commission', () => {
    const stored = { ...demoProgram() } as Partial<Program>;
    delete stored.rewards;
    delete stored.staffCommissionBps;
    const read = withProgramDefaults(stored as Program);
    expect(read.rewards).toEqual([]);
    expect(read.staffCommissionBps).toBe(0);
  });

  const cases: Array<[string, (doc: Doc) => void, string]> = [
    ['a duplicate id', (d) => { d.rewards[1].id = 'mug'; }, 'rewards[1].id: duplicate reward id'],
    ['no pointsCost', (d) => { delete d.rewards[0].pointsCost; }, 'rewards[0].pointsCost: required'],
    ['negative points', (d) => { d.rewards[0].pointsCost = -1; }, 'rewards[0].pointsCost: must be between 0 and 1000000000000'],
    ['an unknown kind', (d) => { d.rewards[0].kind = 'voucher'; }, 'rewards[0].kind: must be one of "goods", "coupon"'],
    ['a coupon reward without a template', (d) => { delete d.rewards[1].couponTemplateId; }, 'rewards[1].couponTemplateId: required for a coupon reward'],
    ['an unknown template', (d) => { d.rewards[1].couponTemplateId = 'nope'; }, 'rewards[1].couponTemplateId: unknown coupon template id'],
    ['goods naming a template', (d) => { d.rewards[0].couponTemplateId = 'tea5'; }, 'rewards[0].couponTemplateId: only a coupon reward names a template'],
    ['an unknown tier', (d) => { d.rewards[1].eligibleTiers = ['platinum']; }, 'rewards[1].eligibleTiers[0]: unknown tier id'],
    ['a negative stock', (d) => { d.rewards[0].stock = -1; }, 'rewards[0].stock: must be between 0 and 1000000000'],
    ['a perMemberMax of 0', (d) => { d.rewards[0].perMemberMax = 0; }, 'rewards[0].perMemberMax: must be between 1 and 9007199254740991'],
    ['a window ending before it starts', (d) => { d.rewards[1].to = '2026-11-30'; }, 'rewards[1].to: must not be before from'],
    ['an unknown field', (d) => { d.rewards[0].price = 5; }, 'rewards[0].price: unknown field'],
    ['a card of 0 uses', (d) => { d.products[2].includes.card.uses = 0; }, 'products[2].includes.card.uses: must be between 1 and 1000'],
    ['a card without a service', (d) => { delete d.products[2].includes.card.serviceId; }, 'products[2].includes.card.serviceId: required'],
    ['a service name that is not text', (d) => { d.products[2].includes.card.serviceName = 3; }, 'products[2].includes.card.serviceName: must be a string'],
    ['a card with validDays 0', (d) => { d.products[2].includes.card.validDays = 0; }, 'products[2].includes.card.validDays: must be between 1 and 36500'],
    ['a commission past 100%', (d) => { d.staffCommissionBps = 10_001; }, 'staffCommissionBps: must be between 0 and 10000'],
  ];
  for (const [name, change, expected] of cases) {
    it(`refuses ${name}`, () => {
      const doc = withRewards();
      change(doc);
      expect(refusal(doc)).toBe(expected);
    });
  }
});
