// The console's three languages: the same keys in each, every text non-empty and readable by
// vue-i18n, and words for everything the server can answer — every error code of the engine's
// catalogue, every ledger kind, every validator refusal the console translates, every coupon reason.
import { describe, expect, it } from 'vitest';
import { createI18n } from 'vue-i18n';
import { ERRORS } from '../../engine/errors.js';
import { LEDGER_KINDS } from '../../engine/ops.js';
import en from '../../console/src/i18n/en.js';
import zhHK from '../../console/src/i18n/zh-HK.js';
import zhCN from '../../console/src/i18n/zh-CN.js';
import { validatorKeys } from '../../console/src/lib/field-messages.js';
import { WEBHOOK_EVENT_TYPES } from '../../engine/rules/webhook-events.js';
import { AUDIT_ACTIONS } from '../../engine/router/audit-log.js';
import { eventNameKey } from '../../console/src/lib/webhooks.js';
import { actionKey } from '../../console/src/lib/audit-words.js';

const LANGUAGES = { en, 'zh-HK': zhHK, 'zh-CN': zhCN } as const;

function flatten(tree: object, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (typeof v === 'string') out.set(key, v);
    else for (const [kk, vv] of flatten(v as object, key)) out.set(kk, vv);
  }
  return out;
}

/** Ledger kinds whose sentence has a key of another name (it needs figures or a reason). */
const LEDGER_KEY: Record<string, string> = { points_activate: 'ledger.pointsActivate', points_cancel: 'ledger.pointsCancel', downgrade: 'ledger.downgrade.period' };

describe('console messages', () => {
  const keys = [...flatten(en).keys()].sort();

  it.each(Object.keys(LANGUAGES))('%s has exactly the English keys, none empty', (lang) => {
    const flat = flatten(LANGUAGES[lang as keyof typeof LANGUAGES]);
    expect([...flat.keys()].sort()).toEqual(keys);
    expect([...flat].filter(([, v]) => v.trim() === '').map(([k]) => k)).toEqual([]);
  });

  it.each(Object.keys(LANGUAGES))('%s has words for every error code of the engine', (lang) => {
    const flat = flatten(LANGUAGES[lang as keyof typeof LANGUAGES]);
    expect(Object.keys(ERRORS).filter((code) => !flat.has(`errors.${code}`))).toEqual([]);
  });

  it.each(Object.keys(LANGUAGES))('%s has a sentence for every ledger kind and every validator refusal', (lang) => {
    const flat = flatten(LANGUAGES[lang as keyof typeof LANGUAGES]);
    expect(LEDGER_KINDS.filter((k) => !flat.has(LEDGER_KEY[k] ?? `ledger.${k}`))).toEqual([]);
    expect(validatorKeys().filter((k) => !flat.has(k))).toEqual([]);
  });

  it.each(Object.keys(LANGUAGES))('%s names every webhook event type and every audit action', (lang) => {
    const flat = flatten(LANGUAGES[lang as keyof typeof LANGUAGES]);
    expect(WEBHOOK_EVENT_TYPES.filter((type) => !flat.has(eventNameKey(type)))).toEqual([]);
    expect(AUDIT_ACTIONS.filter((action) => !flat.has(actionKey(action)))).toEqual([]);
    expect(['delivered', 'retrying', 'failed'].filter((o) => !flat.has(`webhooks.outcomes.${o}`))).toEqual([]);
  });

  it.each(Object.keys(LANGUAGES))('every %s text compiles, and its placeholders are those of the English one', (lang) => {
    const i18n = createI18n({ legacy: false, locale: lang, messages: { [lang]: LANGUAGES[lang as keyof typeof LANGUAGES] } });
    const flat = flatten(LANGUAGES[lang as keyof typeof LANGUAGES]);
    const english = flatten(en);
    const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    const wrong: string[] = [];
    for (const [key, text] of flat) {
      const params = Object.fromEntries(placeholders(text).map((p) => [p!, `<${p}>`]));
      const out = i18n.global.t(key, params);
      if (out === key || /[{}]/.test(out)) wrong.push(`${key}: ${out}`);
      if (JSON.stringify(placeholders(text)) !== JSON.stringify(placeholders(english.get(key)!))) wrong.push(`${key}: placeholders differ from English`);
    }
    expect(wrong).toEqual([]);
  });

  it('every key the console names in its source exists', async () => {
    const { readFileSync, readdirSync, statSync } = await import('node:fs');
    const { join } = await import('node:path');
    const files: string[] = [];
    const walk = (dir: string) => { for (const f of readdirSync(dir)) { const p = join(dir, f); if (statSync(p).isDirectory()) walk(p); else if (/\.(vue|ts)$/.test(f)) files.push(p); } };
    walk(new URL('../../console/src', import.meta.url).pathname);
    const named = new Set<string>();
    for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\bt\('([a-zA-Z_.]+)'/g)) named.add(m[1]!);
    const flat = flatten(en);
    expect(named.size).toBeGreaterThan(300);
    expect([...named].filter((k) => !flat.has(k))).toEqual([]);
  });
});
