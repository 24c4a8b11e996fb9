// Reads the examples out of README.md and docs/*.md and compares answers with what the documents
// show: the steps a test replays against a fresh server, and the matcher that allows `...`.
//
// The conventions (docs/README.md, "How the examples are checked"):
// - ```sh blocks holding `curl`: every command runs through bash in order; a `# {...}` comment line
//   right after a command is its answer; a command without one must not answer an error.
// - ```http-example blocks (and README ```json blocks that start with a request line): a request
//   line `METHOD /path [body]`, optional header lines such as `Authorization: Bearer $POS_KEY`,
//   body lines, then the answer: `STATUS [body]` and body lines, for as many pairs as the block has.
// - ```stream-example blocks: `> frame` lines are sent on one POS stream, `< frame` lines expected.
// - `<!-- demo-program -->` before a ```json block: GET /v1/program on a fresh server answers it.
//   `<!-- program -->` before a ```json block: PUT /v1/program accepts it as written.
// In an expected JSON answer, `...` inside an object stands for fields not shown, at the end of an
// array for elements not shown, after a colon for any value; everything else must be exactly as
// written. A GET whose answer differs is asked again for up to 3 seconds: credits that travel
// between shards (referral rewards, transfers) land a few milliseconds after the answer that caused them.

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export type Step =
  | { kind: 'shell-setup'; line: number; command: string }
  | { kind: 'shell'; line: number; command: string; expected: string | null }
  | { kind: 'http'; line: number; method: string; path: string; headers: Record<string, string>; body: string | null; status: number; expected: string }
  | { kind: 'stream'; line: number; frames: Array<{ send: boolean; text: string }> }
  | { kind: 'program'; line: number; demo: boolean; json: string };

interface Block { info: string; line: number; lines: string[]; marker: string | null }

/** The fenced blocks of a Markdown text: info string, first content line (1-based), lines, and an HTML comment marker just above. */
export function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    let above = i - 1;
    while (above >= 0 && lines[above]!.trim() === '') above--;
    const marker = above >= 0 ? /^<!--\s*([\w-]+)\s*-->$/.exec(lines[above]!.trim())?.[1] ?? null : null;
    blocks.push({ info: open[1]!, line: i + 2, lines: lines.slice(i + 1, end), marker });
    i = end;
  }
  return blocks;
}

/** Shell lines joined across trailing backslashes, each with the line it starts on. */
function logicalLines(block: Block): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let pending: { line: number; text: string } | null = null;
  block.lines.forEach((raw, i) => {
    const continued = /\\\s*$/.test(raw);
    const text = continued ? raw.replace(/\s*\\\s*$/, '') : raw;
    if (pending === null) pending = { line: block.line + i, text };
    else pending.text += ' ' + text.trim();
    if (!continued) { out.push(pending); pending = null; }
  });
  if (pending !== null) out.push(pending);
  return out;
}

function shellSteps(block: Block): Step[] {
  const steps: Step[] = [];
  for (const { line, text } of logicalLines(block)) {
    const trimmed = text.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('#')) {
      const answer = trimmed.slice(1).trim();
      const last = steps[steps.length - 1];
      if ((answer.startsWith('{') || answer.startsWith('[')) && last?.kind === 'shell' && last.expected === null) last.expected = answer;
      continue;
    }
    steps.push(/\bcurl\b/.test(trimmed) ? { kind: 'shell', line, command: trimmed, expected: null } : { kind: 'shell-setup', line, command: trimmed });
  }
  return steps;
}

const REQUEST_LINE = new RegExp(`^(${HTTP_METHODS.join('|')}) (/\\S*)(?: (.*))?$`);
const STATUS_LINE = /^(\d{3})(?: (.*))?$/;
const HEADER_LINE = /^([A-Za-z-]+): (.*)$/;

function httpSteps(block: Block): Step[] {
  const steps: Step[] = [];
  let request: { line: number; method: string; path: string; headers: Record<string, string>; body: string[]; bodyLines: number } | null = null;
  let answer: { status: number; body: string[] } | null = null;
  const flush = (): void => {
    if (request === null) return;
    if (answer === null) throw new Error(`line ${request.line}: a request without an answer`);
    const body = request.body.join('\n').trim();
    steps.push({
      kind: 'http', line: request.line, method: request.method, path: request.path, headers: request.headers,
      body: body === '' ? null : body, status: answer.status, expected: answer.body.join('\n').trim(),
    });
    request = null;
    answer = null;
  };
  block.lines.forEach((text, i) => {
    const req = REQUEST_LINE.exec(text);
    if (req !== null) {
      flush();
      request = { line: block.line + i, method: req[1]!, path: req[2]!, headers: {}, body: req[3] === undefined ? [] : [req[3]], bodyLines: 0 };
      return;
    }
    if (request === null) {
      if (text.trim() !== '') throw new Error(`line ${block.line + i}: expected a request line, got ${text}`);
      return;
    }
    const status = answer === null ? STATUS_LINE.exec(text) : null;
    if (status !== null) { answer = { status: Number(status[1]), body: status[2] === undefined ? [] : [status[2]] }; return; }
    // Header lines come right after the request line, before any body line of its own.
    const header = answer === null && request.bodyLines === 0 ? HEADER_LINE.exec(text) : null;
    if (header !== null) { request.headers[header[1]!.toLowerCase()] = header[2]!; return; }
    if (answer === null) { request.body.push(text); request.bodyLines += 1; } else answer.body.push(text);
  });
  flush();
  return steps;
}

function streamStep(block: Block): Step {
  const frames: Array<{ send: boolean; text: string }> = [];
  block.lines.forEach((text, i) => {
    const m = /^([<>]) (.*)$/.exec(text);
    if (m !== null) frames.push({ send: m[1] === '>', text: m[2]! });
    else if (text.trim() !== '' && frames.length > 0) frames[frames.length - 1]!.text += '\n' + text;
    else if (text.trim() !== '') throw new Error(`line ${block.line + i}: a stream example line starts with "> " or "< "`);
  });
  return { kind: 'stream', line: block.line, frames };
}

/** The README's examples: shell blocks with curl, and JSON blocks that start with a request line. */
export function readmeSteps(markdown: string): Step[] {
  return fencedBlocks(markdown).flatMap((b) => {
    if (b.info === 'sh' && b.lines.some((l) => /\bcurl\b/.test(l))) return shellSteps(b);
    if (b.info === 'json' && REQUEST_LINE.test(b.lines.find((l) => l.trim() !== '') ?? '')) return httpSteps(b);
    return [];
  });
}

/** A docs/ file's examples: http-example and stream-example blocks, and marked program documents. */
export function docSteps(markdown: string): Step[] {
  return fencedBlocks(markdown).flatMap((b): Step[] => {
    if (b.info === 'http-example') return httpSteps(b);
    if (b.info === 'stream-example') return [streamStep(b)];
    if (b.info === 'json' && (b.marker === 'demo-program' || b.marker === 'program')) {
      return [{ kind: 'program', line: b.line, demo: b.marker === 'demo-program', json: b.lines.join('\n') }];
    }
    return [];
  });
}

/** The key under which `...` stands in an object, and the element that stands for it in an array. */
export const MORE = '\u2026more';
/** What `...` becomes where a value is expected (`"seq": ...`): any value at all. */
export const ANY = '\u2026any';

/**
 * Parses an expected answer: JSON in which `...` may stand for more fields of an object, more
 * elements at the end of an array, or any value after a colon. The placeholders become MORE keys
 * and elements and ANY values.
 */
export function parseExpected(text: string): unknown {
  let out = '';
  const stack: string[] = [];
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') { out += text[i + 1] ?? ''; i++; } else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') stack.push(c);
    else if (c === '}' || c === ']') stack.pop();
    else if (text.startsWith('...', i)) {
      // After a colon it is a value: any value; elsewhere it stands for more fields or elements.
      out += /:\s*$/.test(out) ? `"${ANY}"` : stack[stack.length - 1] === '{' ? `"${MORE}":true` : `"${MORE}"`;
      i += 2;
      continue;
    }
    out += c;
  }
  return JSON.parse(out);
}

/** Every difference between an expected value (from parseExpected) and an actual one, by path. */
export function differences(expected: unknown, actual: unknown, path = '$'): string[] {
  if (expected === ANY) return actual === undefined ? [`${path}: missing`] : [];
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${path}: expected an array, got ${JSON.stringify(actual)}`];
    const open = expected.length > 0 && expected[expected.length - 1] === MORE;
    const shown = open ? expected.slice(0, -1) : expected;
    if (open ? actual.length < shown.length : actual.length !== shown.length) {
      return [`${path}: expected ${open ? 'at least ' : ''}${shown.length} elements, got ${actual.length}: ${JSON.stringify(actual).slice(0, 400)}`];
    }
    return shown.flatMap((e, i) => differences(e, actual[i], `${path}[${i}]`));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return [`${path}: expected an object, got ${JSON.stringify(actual)}`];
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const out: string[] = [];
    for (const key of Object.keys(e)) {
      if (key === MORE) continue;
      if (!Object.hasOwn(a, key)) out.push(`${path}.${key}: missing`);
      else out.push(...differences(e[key], a[key], `${path}.${key}`));
    }
    if (!Object.hasOwn(e, MORE)) {
      for (const key of Object.keys(a)) if (!Object.hasOwn(e, key)) out.push(`${path}.${key}: not shown in the example (${JSON.stringify(a[key])})`);
    }
    return out;
  }
  return Object.is(expected, actual) ? [] : [`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

/** Every anchor a Markdown text defines: its headings (numbered on repeats, as GitHub does) and `<a id>` tags. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^```/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const h = /^#{1,6} (.*)$/.exec(line);
    if (h !== null) {
      const base = headingAnchor(h[1]!.replace(/`/g, ''));
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a id="([^"]+)"><\/a>/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** Relative links of a Markdown text outside code: `[text](target)` with their target split at `#`. */
export function relativeLinks(markdown: string): Array<{ file: string; anchor: string | null; line: number }> {
  const out: Array<{ file: string; anchor: string | null; line: number }> = [];
  let inFence = false;
  markdown.split('\n').forEach((line, i) => {
    if (/^```/.test(line)) inFence = !inFence;
    if (inFence) return;
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const hash = target.indexOf('#');
      out.push({ file: hash === -1 ? target : target.slice(0, hash), anchor: hash === -1 ? null : target.slice(hash + 1), line: i + 1 });
    }
  });
  return out;
}
