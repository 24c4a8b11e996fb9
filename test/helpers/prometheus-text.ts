// A strict reader of the Prometheus text exposition format (version 0.0.4) for tests: it parses
// every line and reports what `promtool check metrics` would refuse, and more: families without
// HELP or TYPE, counters not ending in `_total` (and other types that do), histogram buckets that
// are not cumulative, lack `+Inf` or disagree with `_count`, missing `_sum`/`_count`, samples
// outside their family, repeated series, abbreviated or non-base units in names.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample { name: string; labels: Record<string, string>; value: number }

export interface Family { name: string; type: MetricType; help: string; samples: Sample[] }

export interface Exposition { families: Map<string, Family>; problems: string[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** Abbreviated units promtool's linter (client_golang promlint) refuses as whole name parts. */
const ABBREVIATED_UNITS = new Set(['s', 'ms', 'us', 'ns', 'sec', 'b', 'kb', 'mb', 'gb', 'tb', 'pb', 'm', 'h', 'd']);
/** Units that have a base unit Prometheus prefers (seconds, bytes, ratios). */
const NON_BASE_UNITS = new Set(['milliseconds', 'microseconds', 'nanoseconds', 'minutes', 'hours', 'days', 'kilobytes', 'megabytes', 'gigabytes', 'percent']);

/** A label set as one string, `le` left out, for grouping a histogram's series. */
function seriesKey(labels: Record<string, string>, without?: string): string {
  return Object.keys(labels).filter((k) => k !== without).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',');
}

/** The `{...}` part of a sample line: label names and their escaped, quoted values. */
function parseLabels(text: string, problems: string[], line: string): Record<string, string> | null {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq === -1) { problems.push(`label without a value: ${line}`); return null; }
    const name = text.slice(i, eq).trim();
    if (!LABEL_NAME.test(name) || name.startsWith('__')) { problems.push(`bad label name ${JSON.stringify(name)}: ${line}`); return null; }
    if (name in labels) { problems.push(`repeated label ${name}: ${line}`); return null; }
    if (text[eq + 1] !== '"') { problems.push(`label value not quoted: ${line}`); return null; }
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else { problems.push(`bad escape in a label value: ${line}`); return null; }
      } else value += text[j];
    }
    if (j >= text.length) { problems.push(`unterminated label value: ${line}`); return null; }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i += 1;
    else if (i < text.length) { problems.push(`labels not separated by commas: ${line}`); return null; }
  }
  return labels;
}

function parseValue(text: string): number | null {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) ? Number(text) : null;
}

/** The family a sample name belongs to: a histogram's `_bucket`, `_sum` and `_count` belong to it. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const own = families.get(name);
  if (own !== undefined) return own;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f !== undefined && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

export function parseExposition(text: string): Exposition {
  const problems: string[] = [];
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current = null as Family | null;
  if (!text.endsWith('\n')) problems.push('the exposition does not end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (m === null) continue; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string];
      if (!NAME.test(name)) problems.push(`bad metric name ${name}`);
      if (closed.has(name) || (families.has(name) && current?.name !== name)) problems.push(`family ${name} appears in more than one place`);
      if (kind === 'HELP') {
        if (helps.has(name)) problems.push(`family ${name} has two HELP lines`);
        if (rest.trim() === '') problems.push(`family ${name} has an empty HELP`);
        helps.set(name, rest);
        const f = families.get(name);
        if (f !== undefined) f.help = rest;
      } else {
        if (families.has(name)) problems.push(`family ${name} has two TYPE lines`);
        if (!TYPES.has(rest as MetricType)) problems.push(`family ${name} has an unknown TYPE ${rest}`);
        families.set(name, { name, type: rest as MetricType, help: helps.get(name) ?? '', samples: [] });
      }
      if (current !== null && current.name !== name) closed.add(current.name);
      current = families.get(name) ?? current;
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (m === null) { problems.push(`unparsable line: ${line}`); continue; }
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const labels = labelText === undefined ? {} : parseLabels(labelText, problems, line);
    const value = parseValue(valueText);
    if (labels === null) continue;
    if (value === null) { problems.push(`bad value: ${line}`); continue; }
    const family = familyOf(name, families);
    if (family === undefined) { problems.push(`sample without a TYPE line for its family: ${line}`); continue; }
    if (family !== current) problems.push(`sample ${name} outside its family's block`);
    const key = `${name}{${seriesKey(labels)}}`;
    if (seen.has(key)) problems.push(`repeated series ${key}`);
    seen.add(key);
    family.samples.push({ name, labels, value });
  }
  for (const f of families.values()) checkFamily(f, helps.has(f.name), problems);
  return { families, problems };
}

function checkFamily(f: Family, hasHelp: boolean, problems: string[]): void {
  if (!hasHelp) problems.push(`family ${f.name} has no HELP`);
  if (f.type === 'counter' && !f.name.endsWith('_total')) problems.push(`counter ${f.name} does not end in _total`);
  if (f.type !== 'counter' && f.type !== 'untyped' && f.name.endsWith('_total')) problems.push(`${f.type} ${f.name} ends in _total, which only counters may`);
  if (f.type !== 'histogram' && f.type !== 'summary' && /_(bucket|sum|count)$/.test(f.name)) problems.push(`${f.type} ${f.name} ends in a suffix reserved for histograms and summaries`);
  for (const part of f.name.split('_')) {
    if (ABBREVIATED_UNITS.has(part)) problems.push(`${f.name} abbreviates a unit (${part})`);
    if (NON_BASE_UNITS.has(part)) problems.push(`${f.name} uses ${part} instead of a base unit`);
  }
  if (/[A-Z]/.test(f.name)) problems.push(`${f.name} is not snake_case`);
  for (const s of f.samples) {
    if (f.type === 'counter' && s.value < 0) problems.push(`counter ${s.name} is negative`);
    if ((f.type === 'histogram' || f.type === 'summary') && 'le' in s.labels === (s.name !== `${f.name}_bucket`)) problems.push(`${s.name} misuses the le label`);
    if (f.type !== 'histogram' && f.type !== 'summary' && s.name !== f.name) problems.push(`sample ${s.name} in family ${f.name}`);
  }
  if (f.type === 'histogram') checkHistogram(f, problems);
}

/** Per series: buckets in increasing `le`, cumulative, the last `+Inf`, equal to `_count`; `_sum` present. */
function checkHistogram(f: Family, problems: string[]): void {
  const series = new Map<string, { buckets: Array<[number, number]>; sum?: number; count?: number }>();
  const of = (labels: Record<string, string>) => {
    const key = seriesKey(labels, 'le');
    let s = series.get(key);
    if (s === undefined) { s = { buckets: [] }; series.set(key, s); }
    return s;
  };
  for (const s of f.samples) {
    if (s.name === `${f.name}_bucket`) {
      const le = parseValue(s.labels['le'] ?? '');
      if (le === null || Number.isNaN(le)) { problems.push(`${f.name} has a bucket with a bad le ${s.labels['le']}`); continue; }
      of(s.labels).buckets.push([le, s.value]);
    } else if (s.name === `${f.name}_sum`) of(s.labels).sum = s.value;
    else if (s.name === `${f.name}_count`) of(s.labels).count = s.value;
    else problems.push(`sample ${s.name} in histogram ${f.name}`);
  }
  for (const [key, s] of series) {
    const where = `${f.name}{${key}}`;
    for (let i = 1; i < s.buckets.length; i++) {
      if (!(s.buckets[i]![0] > s.buckets[i - 1]![0])) problems.push(`${where}: bucket bounds not increasing`);
      if (s.buckets[i]![1] < s.buckets[i - 1]![1]) problems.push(`${where}: buckets not cumulative`);
    }
    const last = s.buckets[s.buckets.length - 1];
    if (last === undefined || last[0] !== Number.POSITIVE_INFINITY) problems.push(`${where}: no +Inf bucket last`);
    if (s.sum === undefined) problems.push(`${where}: no _sum`);
    if (s.count === undefined) problems.push(`${where}: no _count`);
    else if (last !== undefined && last[1] !== s.count) problems.push(`${where}: +Inf bucket ${last[1]} differs from _count ${s.count}`);
  }
}
