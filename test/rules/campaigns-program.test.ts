// The campaign part of the program validator (docs/program.md, Campaigns): every default filled,
// programs stored before campaigns read with them, and the field path and reason of every campaign
// setting and of `pointsPendingDays` the validator refuses, one case per kind of error.

import { describe, expect, it } from 'vitest';
import { demoProgram, validateProgram, withProgramDefaults } from '../../engine/rules/program.js';
import type { Program } from '../../engine/rules/program-types.js';

type Doc = Record<string, any>;

/** The demo program with two coupon templates and the campaigns of the docs' example. */
function withCampaigns(): Doc {
  const doc = JSON.parse(JSON.stringify(demoProgram())) as Doc;
  doc.coupons = [
    { id: 'tea5', name: 'HK$5 off tea', discount: { amountCents: 500 }, validDays: 30 },
    { id: 'opening', name: 'Opening gift', discount: { amountCents: 2000 }, validDays: 30, totalMax: 500 },
  ];
  doc.campaigns = [
    {
      id: 'double-weekend', name: 'Double points weekends', from: '2026-12-01', to: '2026-12-31',
      daysOfWeek: [6, 7], pointsMultiplierPct: 200, itemPoints: [{ sku: 'TEA-01', points: 50 }],
    },
    {
      id: 'tst-opening', name: 'Tsim Sha Tsui opening week', active: true, from: '2026-11-20', to: '2026-11-26',
      daysOfWeek: null, channels: ['offline'], storeIds: ['tst'], tiers: ['member', 'silver'], minNetCents: 10_000,
      pointsMultiplierPct: 150, bonusPoints: 20, itemPoints: [], couponTemplateId: 'opening',
    },
  ];
  doc.pointsPendingDays = 14;
  return doc;
}

function refusal(doc: unknown): string {
  const result = validateProgram(doc);
  if (result.ok) throw new Error('expected a refusal, but the document was accepted');
  return `${result.field}: ${result.message}`;
}

describe('validateProgram: campaigns', () => {
  it('accepts campaigns, filling every default, and keeps pointsPendingDays', () => {
    const result = validateProgram(withCampaigns());
    if (!result.ok) throw new Error(`${result.field}: ${result.message}`);
    expect(result.program.campaigns).toEqual([
      {
        id: 'double-weekend', name: 'Double points weekends', active: true, from: '2026-12-01', to: '2026-12-31',
        daysOfWeek: [6, 7], channels: null, storeIds: null, tiers: null, minNetCents: 0, pointsMultiplierPct: 200,
        bonusPoints: 0, itemPoints: [{ sku: 'TEA-01', points: 50 }], couponTemplateId: null,
      },
      {
        id: 'tst-opening', name: 'Tsim Sha Tsui opening week', active: true, from: '2026-11-20', to: '2026-11-26',
        daysOfWeek: null, channels: ['offline'], storeIds: ['tst'], tiers: ['member', 'silver'], minNetCents: 10_000,
        pointsMultiplierPct: 150, bonusPoints: 20, itemPoints: [], couponTemplateId: 'opening',
      },
    ]);
    expect(result.program.pointsPendingDays).toBe(14);
  });

  it('fills a campaign of only an id and a name with neutral values: open window, every day, no effect', () => {
    const doc = withCampaigns();
    doc.campaigns = [{ id: 'tag', name: 'Counts orders' }];
    const result = validateProgram(doc);
    expect(result.ok && result.program.campaigns).toEqual([{
      id: 'tag', name: 'Counts orders', active: true, from: null, to: null, daysOfWeek: null, channels: null,
      storeIds: null, tiers: null, minNetCents: 0, pointsMultiplierPct: 100, bonusPoints: 0, itemPoints: [],
      couponTemplateId: null,
    }]);
  });

  it('reads a program without campaigns as [] and 0, and a stored one from before them too', () => {
    const doc = JSON.parse(JSON.stringify(demoProgram())) as Doc;
    delete doc.campaigns;
    delete doc.pointsPendingDays;
    const result = validateProgram(doc);
    expect(result.ok && [result.program.campaigns, result.program.pointsPendingDays]).toEqual([[], 0]);
    const { campaigns: _c, pointsPendingDays: _d, ...before } = demoProgram();
    expect(withProgramDefaults(before as Program)).toEqual(demoProgram());
  });

  it('accepts the bounds: 100 campaigns, multipliers 100 and 10,000, 365 pending days, a one-day window', () => {
    const doc = withCampaigns();
    doc.campaigns = Array.from({ length: 100 }, (_, i) => ({ id: `c${i}`, name: 'c', pointsMultiplierPct: i % 2 === 0 ? 100 : 10_000 }));
    doc.campaigns[0].from = '2026-12-25';
    doc.campaigns[0].to = '2026-12-25';
    doc.pointsPendingDays = 365;
    expect(validateProgram(doc).ok).toBe(true);
  });

  const invalid: Array<[string, (d: Doc) => void, string]> = [
    ['campaigns not an array', (d) => { d.campaigns = {}; }, 'campaigns: must be an array'],
    ['101 campaigns', (d) => { d.campaigns = Array.from({ length: 101 }, (_, i) => ({ id: `c${i}`, name: 'c' })); }, 'campaigns: must have between 0 and 100 items'],
    ['a campaign not an object', (d) => { d.campaigns[1] = 'double'; }, 'campaigns[1]: must be an object'],
    ['unknown campaign field', (d) => { d.campaigns[1].multiplier = 2; }, 'campaigns[1].multiplier: unknown field'],
    ['missing id', (d) => { delete d.campaigns[0].id; }, 'campaigns[0].id: required'],
    ['unsafe id', (d) => { d.campaigns[0].id = 'double weekend'; }, 'campaigns[0].id: must be 1-64 characters of [A-Za-z0-9._:-]'],
    ['duplicate id', (d) => { d.campaigns[1].id = 'double-weekend'; }, 'campaigns[1].id: duplicate campaign id'],
    ['missing name', (d) => { delete d.campaigns[1].name; }, 'campaigns[1].name: required'],
    ['empty name', (d) => { d.campaigns[1].name = ''; }, 'campaigns[1].name: must be between 1 and 256 characters long'],
    ['active a string', (d) => { d.campaigns[1].active = 'yes'; }, 'campaigns[1].active: must be true or false'],
    ['from not a date', (d) => { d.campaigns[0].from = '2026-12-01T00:00:00+08:00'; }, 'campaigns[0].from: must be a date YYYY-MM-DD'],
    ['to a date the calendar lacks', (d) => { d.campaigns[0].to = '2026-02-29'; }, 'campaigns[0].to: is not a date the calendar has (2026-02-29)'],
    ['from before 2000', (d) => { d.campaigns[0].from = '1999-12-31'; }, 'campaigns[0].from: must not be before 2000-01-01'],
    ['window backwards', (d) => { d.campaigns[1].to = '2026-11-19'; }, 'campaigns[1].to: must not be before from'],
    ['daysOfWeek not an array', (d) => { d.campaigns[0].daysOfWeek = 6; }, 'campaigns[0].daysOfWeek: must be an array'],
    ['daysOfWeek empty', (d) => { d.campaigns[0].daysOfWeek = []; }, 'campaigns[0].daysOfWeek: must have between 1 and 7 items'],
    ['day 0', (d) => { d.campaigns[0].daysOfWeek = [0, 6]; }, 'campaigns[0].daysOfWeek[0]: must be between 1 and 7'],
    ['day 8', (d) => { d.campaigns[0].daysOfWeek = [6, 8]; }, 'campaigns[0].daysOfWeek[1]: must be between 1 and 7'],
    ['day as text', (d) => { d.campaigns[0].daysOfWeek = ['sat']; }, 'campaigns[0].daysOfWeek[0]: must be an integer'],
    ['repeated day', (d) => { d.campaigns[0].daysOfWeek = [6, 7, 6]; }, 'campaigns[0].daysOfWeek[2]: duplicate day'],
    ['unknown channel', (d) => { d.campaigns[1].channels = ['offline', 'kiosk']; }, 'campaigns[1].channels[1]: must be one of "online", "offline"'],
    ['repeated channel', (d) => { d.campaigns[1].channels = ['offline', 'offline']; }, 'campaigns[1].channels[1]: duplicate channel'],
    ['empty channels', (d) => { d.campaigns[1].channels = []; }, 'campaigns[1].channels: must have between 1 and 2 items'],
    ['storeIds empty', (d) => { d.campaigns[1].storeIds = []; }, 'campaigns[1].storeIds: must have between 1 and 1000 items'],
    ['1,001 stores', (d) => { d.campaigns[1].storeIds = Array.from({ length: 1001 }, (_, i) => `s${i}`); }, 'campaigns[1].storeIds: must have between 1 and 1000 items'],
    ['unsafe store id', (d) => { d.campaigns[1].storeIds = ['tst', 'causeway bay']; }, 'campaigns[1].storeIds[1]: must be 1-64 characters of [A-Za-z0-9._:-]'],
    ['repeated store', (d) => { d.campaigns[1].storeIds = ['tst', 'mk', 'tst']; }, 'campaigns[1].storeIds[2]: duplicate store id'],
    ['unknown tier', (d) => { d.campaigns[1].tiers = ['member', 'platinum']; }, 'campaigns[1].tiers[1]: unknown tier id'],
    ['repeated tier', (d) => { d.campaigns[1].tiers = ['gold', 'gold']; }, 'campaigns[1].tiers[1]: duplicate tier id'],
    ['empty tiers', (d) => { d.campaigns[1].tiers = []; }, 'campaigns[1].tiers: must have between 1 and 10 items'],
    ['negative net', (d) => { d.campaigns[1].minNetCents = -1; }, 'campaigns[1].minNetCents: must be between 0 and 1000000000000'],
    ['multiplier below 100', (d) => { d.campaigns[0].pointsMultiplierPct = 99; }, 'campaigns[0].pointsMultiplierPct: must be between 100 and 10000'],
    ['multiplier past 10,000', (d) => { d.campaigns[0].pointsMultiplierPct = 10_001; }, 'campaigns[0].pointsMultiplierPct: must be between 100 and 10000'],
    ['multiplier fractional', (d) => { d.campaigns[0].pointsMultiplierPct = 150.5; }, 'campaigns[0].pointsMultiplierPct: must be an integer'],
    ['bonus past the points bound', (d) => { d.campaigns[1].bonusPoints = 1_000_000_000_001; }, 'campaigns[1].bonusPoints: must be between 0 and 1000000000000'],
    ['bonus unsafe', (d) => { d.campaigns[1].bonusPoints = 2 ** 53; }, 'campaigns[1].bonusPoints: must be a safe integer'],
    ['itemPoints not an array', (d) => { d.campaigns[0].itemPoints = null; }, 'campaigns[0].itemPoints: must be an array'],
    ['1,001 item lines', (d) => { d.campaigns[0].itemPoints = Array.from({ length: 1001 }, (_, i) => ({ sku: `s${i}`, points: 1 })); }, 'campaigns[0].itemPoints: must have between 0 and 1000 items'],
    ['item not an object', (d) => { d.campaigns[0].itemPoints[0] = 'TEA-01'; }, 'campaigns[0].itemPoints[0]: must be an object'],
    ['unknown item field', (d) => { d.campaigns[0].itemPoints[0].qty = 1; }, 'campaigns[0].itemPoints[0].qty: unknown field'],
    ['item without a sku', (d) => { delete d.campaigns[0].itemPoints[0].sku; }, 'campaigns[0].itemPoints[0].sku: required'],
    ['unsafe sku', (d) => { d.campaigns[0].itemPoints[0].sku = 'TEA 01'; }, 'campaigns[0].itemPoints[0].sku: must be 1-64 characters of [A-Za-z0-9._:-]'],
    ['repeated sku', (d) => { d.campaigns[0].itemPoints.push({ sku: 'TEA-01', points: 5 }); }, 'campaigns[0].itemPoints[1].sku: duplicate sku'],
    ['item points zero', (d) => { d.campaigns[0].itemPoints[0].points = 0; }, 'campaigns[0].itemPoints[0].points: must be between 1 and 1000000000000'],
    ['item points missing', (d) => { delete d.campaigns[0].itemPoints[0].points; }, 'campaigns[0].itemPoints[0].points: required'],
    ['unknown coupon template', (d) => { d.campaigns[1].couponTemplateId = 'easter'; }, 'campaigns[1].couponTemplateId: unknown coupon template id'],
    ['coupon template not an id', (d) => { d.campaigns[1].couponTemplateId = 7; }, 'campaigns[1].couponTemplateId: must be 1-64 characters of [A-Za-z0-9._:-]'],
    ['pending days negative', (d) => { d.pointsPendingDays = -1; }, 'pointsPendingDays: must be between 0 and 365'],
    ['pending days past a year', (d) => { d.pointsPendingDays = 366; }, 'pointsPendingDays: must be between 0 and 365'],
    ['pending days null', (d) => { d.pointsPendingDays = null; }, 'pointsPendingDays: must be an integer'],
    ['birthday multiplier past 10,000', (d) => { d.birthday.multiplierPct = 10_001; }, 'birthday.multiplierPct: must be between 0 and 10000'],
  ];

  it.each(invalid)('refuses %s', (_name, mutate, expected) => {
    const doc = withCampaigns();
    mutate(doc);
    expect(refusal(doc)).toBe(expected);
  });
});
