// An administrative action of the audit trail as a sentence a manager reads: "Program saved as
// version 7; changed: tiers[1].threshold", "A Read only key k_… was created". The action's name,
// its target and its details (docs/api.md, "Audit trail") fill the sentence; times are written in
// the program's zone and key ids the engine itself uses (`cli`, `system`) in words. Pure: no DOM, no Vue.
import type { Formatter } from './format.js';
import type { Words } from './words.js';
import type { AuditRecord } from '../api/types.js';
import { eventName } from './webhooks.js';

/** The actions of docs/api.md's audit table, in its order: the Audit screen's filter offers them. */
export const AUDIT_ACTION_NAMES = [
  'program.change', 'key.create', 'key.revoke', 'import', 'sweep', 'points.adjust', 'card.adjust',
  'member.erase', 'webhook.create', 'webhook.delete', 'webhook.redeliver', 'backup', 'restore',
  'compact', 'cluster.drain', 'cluster.undrain',
] as const;

/** An action's key among the words: `webhook.create` → `audit.actions.webhook_create`. */
export function actionKey(action: string): string {
  return `audit.actions.${action.replace(/\./g, '_')}`;
}

export function actionName(words: Words, action: string): string {
  return words.has(actionKey(action)) ? words.t(actionKey(action)) : action;
}

/** Who made an action: a key id as the API has it, or the command line and the engine in words. */
export function actorText(words: Words, keyId: string): string {
  if (keyId === 'cli') return words.t('audit.commandLine');
  if (keyId === 'system') return words.t('audit.system');
  return keyId;
}

export interface AuditContext {
  words: Words;
  fmt: Formatter;
}

const text = (v: unknown): string => (v === null || v === undefined ? '—' : String(v));
const count = (c: AuditContext, v: unknown): string => (typeof v === 'number' ? c.fmt.number(v) : text(v));

export function auditWords(r: AuditRecord, c: AuditContext): string {
  const { t } = c.words;
  const d = r.details;
  if (d['truncated'] === true) return t('audit.text.truncated', { action: actionName(c.words, r.action) });
  const role = (v: unknown) => (typeof v === 'string' && c.words.has(`roles.${v}`) ? t(`roles.${v}`) : text(v));
  switch (r.action) {
    case 'program.change': {
      const paths = Array.isArray(d['paths']) ? (d['paths'] as unknown[]).map(String).join(t('audit.text.separator')) : '—';
      const more = typeof d['more'] === 'number' ? d['more'] : 0;
      return more > 0 ? t('audit.text.programChangeMore', { version: text(r.target), paths, n: c.fmt.number(more) }) : t('audit.text.programChange', { version: text(r.target), paths });
    }
    case 'key.create': return t('audit.text.keyCreate', { role: role(d['role']), key: text(r.target) });
    case 'key.revoke': return t('audit.text.keyRevoke', { role: role(d['role']), key: text(r.target) });
    case 'import': {
      const figures = { rows: count(c, d['rows']), accepted: count(c, d['accepted']), skipped: count(c, d['skipped']), refused: count(c, d['refused']) };
      return r.target === null ? t('audit.text.import', figures) : t('audit.text.importFile', { ...figures, file: r.target });
    }
    case 'sweep': return t('audit.text.sweep', { asOf: typeof d['asOf'] === 'string' ? c.fmt.dateTime(d['asOf']) : '—', members: count(c, d['members']) });
    case 'points.adjust': return t('audit.text.pointsAdjust', { member: text(r.target), points: typeof d['points'] === 'number' ? c.fmt.signedNumber(d['points']) : text(d['points']), reason: text(d['reason']) });
    case 'card.adjust': return t('audit.text.cardAdjust', { member: text(r.target), service: text(d['serviceId']), uses: typeof d['uses'] === 'number' ? c.fmt.signedNumber(d['uses']) : text(d['uses']), reason: text(d['reason']) });
    case 'member.erase': return t('audit.text.memberErase', { member: text(r.target) });
    case 'webhook.create': {
      const events = Array.isArray(d['events']) ? (d['events'] as unknown[]).map((e) => eventName(c.words, String(e))).join(t('audit.text.separator')) : '—';
      return t('audit.text.webhookCreate', { id: text(r.target), url: text(d['url']), events });
    }
    case 'webhook.delete': return t('audit.text.webhookDelete', { id: text(r.target) });
    case 'webhook.redeliver': return t('audit.text.webhookRedeliver', { id: text(r.target), event: text(d['fromEventId']) });
    case 'backup': return t('audit.text.backup', { dir: text(r.target) });
    case 'compact': return t('audit.text.compact');
    case 'cluster.drain': return t('audit.text.clusterDrain', { node: text(r.target), owner: text(d['owner']) });
    case 'cluster.undrain': return t('audit.text.clusterUndrain', { node: text(r.target) });
    case 'restore': {
      const until = typeof d['until'] === 'string' ? c.fmt.dateTime(d['until']) : null;
      return until === null ? t('audit.text.restore', { dir: text(r.target) }) : t('audit.text.restoreUntil', { dir: text(r.target), until });
    }
    default: return t('audit.text.other', { action: actionName(c.words, r.action) });
  }
}
