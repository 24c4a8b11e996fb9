// The admin console's behaviour: plain browser JavaScript over the HTTP API (no build step). The key
// lives in sessionStorage only; every value from the server is written as text, never as HTML.
const KEY_STORAGE = 'loyalty.adminKey';
const METRICS_POLL_MS = 2000;
const RATE_SAMPLES_MAX = 60;
const LEDGER_PAGE = 50;
const SEARCH_LIMIT = 20;

const $ = (id) => document.getElementById(id);
let metricsTimer = null;
let lastOps = null;
const rates = [];

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function key() { return sessionStorage.getItem(KEY_STORAGE); }

/** Calls the API with the key; resolves to { status, body } (body parsed when JSON). */
async function api(method, path, body) {
  const headers = { authorization: `Bearer ${key()}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : body });
  const text = await res.text();
  let parsed = text;
  if ((res.headers.get('content-type') || '').includes('application/json')) {
    try { parsed = JSON.parse(text); } catch { /* left as text */ }
  }
  return { status: res.status, body: parsed };
}

function errorText(reply) {
  const e = reply.body && reply.body.error;
  return e ? `${e.code}: ${e.message}` : `HTTP ${reply.status}`;
}

// ---- key ----

async function useKey(candidate) {
  sessionStorage.setItem(KEY_STORAGE, candidate);
  const reply = await api('GET', '/v1/program');
  if (reply.status !== 200) {
    sessionStorage.removeItem(KEY_STORAGE);
    $('key-status').textContent = reply.status === 401 ? 'That key is not valid.' : errorText(reply);
    $('key-status').className = 'error';
    return;
  }
  $('key-status').textContent = 'Key accepted.';
  $('key-status').className = 'muted';
  $('key').value = '';
  $('key-forget').hidden = false;
  $('panels').hidden = false;
  showProgram(reply.body);
  loadSummary();
  startMetrics();
}

function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
  $('panels').hidden = true;
  $('key-forget').hidden = true;
  $('key-status').textContent = '';
  if (metricsTimer !== null) clearInterval(metricsTimer);
  metricsTimer = null;
}

// ---- program ----

function showProgram(versioned) {
  const { version, ...program } = versioned;
  $('program-version').textContent = `version ${version}`;
  $('program').value = JSON.stringify(program, null, 2);
  $('program').classList.remove('invalid');
  $('program-error').hidden = true;
}

async function loadProgram() {
  const reply = await api('GET', '/v1/program');
  if (reply.status === 200) { showProgram(reply.body); $('program-status').textContent = ''; }
  else $('program-status').textContent = errorText(reply);
}

function showProgramError(field, message) {
  const box = $('program-error');
  box.hidden = false;
  box.textContent = '';
  box.dataset.field = field || '';
  if (field) box.append(el('code', field), document.createTextNode(' '));
  box.append(document.createTextNode(message));
  $('program').classList.add('invalid');
}

async function saveProgram() {
  $('program-status').textContent = '';
  let doc;
  try {
    doc = JSON.parse($('program').value);
  } catch (err) {
    showProgramError('(root)', `the text is not valid JSON: ${err.message}`);
    return;
  }
  const reply = await api('PUT', '/v1/program', JSON.stringify(doc));
  if (reply.status === 200) {
    showProgram(reply.body);
    $('program-status').textContent = `Saved as version ${reply.body.version}.`;
    loadSummary();
    return;
  }
  const e = reply.body && reply.body.error;
  // The server's message repeats the field as "field: message"; show the field once.
  const message = e ? e.message.replace(new RegExp(`^${escapeRegExp(e.field || '')}: `), '') : errorText(reply);
  showProgramError(e ? e.field : '', message);
}

function escapeRegExp(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

// ---- members ----

async function searchMembers(q) {
  const list = $('member-results');
  list.textContent = '';
  const reply = await api('GET', `/v1/members?limit=${SEARCH_LIMIT}&q=${encodeURIComponent(q)}`);
  if (reply.status !== 200) { list.append(el('li', errorText(reply), 'error')); return; }
  if (reply.body.members.length === 0) { list.append(el('li', 'No member matches.', 'muted')); return; }
  for (const m of reply.body.members) {
    const item = el('li');
    const button = el('button', `${m.memberId}${m.name ? ' — ' + m.name : ''}`);
    button.type = 'button';
    button.dataset.memberId = m.memberId;
    button.addEventListener('click', () => showMember(m.memberId));
    item.append(button, el('span', ` ${m.tierId}, ${m.points} points`, 'muted'));
    list.append(item);
  }
}

const MEMBER_FIELDS = ['tierId', 'points', 'walletCents', 'growth', 'lifetimeSpendCents', 'purchaseCount', 'phone', 'email', 'periodEnd', 'createdAt'];

async function showMember(memberId) {
  const id = encodeURIComponent(memberId);
  const [member, ledger] = await Promise.all([api('GET', `/v1/members/${id}`), api('GET', `/v1/members/${id}/ledger?limit=${LEDGER_PAGE}`)]);
  const detail = $('member-detail');
  detail.hidden = false;
  detail.dataset.memberId = memberId;
  $('member-title').textContent = member.status === 200 ? `${member.body.memberId}${member.body.name ? ' — ' + member.body.name : ''}` : errorText(member);
  const fields = $('member-fields');
  fields.textContent = '';
  if (member.status === 200) for (const f of MEMBER_FIELDS) fields.append(el('dt', f), el('dd', member.body[f] ?? '—'));
  const body = $('member-ledger').querySelector('tbody');
  body.textContent = '';
  if (ledger.status !== 200) return;
  for (const e of ledger.body.entries) {
    const row = el('tr');
    row.dataset.kind = e.kind;
    for (const v of [e.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), e.kind, e.pointsDelta, e.walletDeltaCents, e.spendDeltaCents, e.tierId ?? '', e.ref]) row.append(el('td', v));
    body.append(row);
  }
}

// ---- tiers and liability ----

async function loadSummary() {
  const reply = await api('GET', '/v1/reports/summary');
  const chart = $('tier-chart');
  chart.textContent = '';
  if (reply.status !== 200) { chart.append(el('p', errorText(reply), 'error')); return; }
  const s = reply.body;
  const most = Math.max(1, ...s.tiers.map((t) => t.members));
  for (const t of s.tiers) {
    const row = el('div', null, 'bar-row');
    row.dataset.tierId = t.tierId;
    const track = el('div', null, 'bar-track');
    const bar = el('div', null, 'bar');
    // CSSOM, not a style attribute, so a strict Content-Security-Policy allows it.
    bar.style.width = `${(100 * t.members) / most}%`;
    track.append(bar);
    row.append(el('span', t.tierId), track, el('span', t.members, 'bar-value'));
    chart.append(row);
  }
  const program = await api('GET', '/v1/program');
  const base = program.status === 200 ? program.body.tiers[0].redeem : null;
  const liability = $('liability');
  liability.textContent = '';
  const money = (cents) => (cents / 100).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const rows = [
    ['members', s.members],
    ['points outstanding', s.pointsOutstanding.toLocaleString()],
    ['points value (base tier rate)', base ? money(Math.floor((s.pointsOutstanding * base.cents) / base.points)) : '—'],
    ['wallet outstanding', money(s.walletOutstandingCents)],
    ['points issued / redeemed', `${s.pointsIssued.toLocaleString()} / ${s.pointsRedeemed.toLocaleString()}`],
  ];
  for (const [k, v] of rows) liability.append(el('dt', k), el('dd', v));
}

// ---- throughput ----

function opsTotal(metricsText) {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    if (line.startsWith('loyalty_ops_total{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function pollMetrics() {
  const reply = await api('GET', '/metrics');
  if (reply.status !== 200) { $('ops-rate').textContent = '?'; return; }
  const now = performance.now();
  const total = opsTotal(reply.body);
  if (lastOps !== null) {
    const rate = Math.max(0, (total - lastOps.total) / ((now - lastOps.at) / 1000));
    rates.push(rate);
    if (rates.length > RATE_SAMPLES_MAX) rates.shift();
    $('ops-rate').textContent = Math.round(rate).toLocaleString();
    drawRates();
  }
  lastOps = { total, at: now };
}

function drawRates() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${RATE_SAMPLES_MAX} 100`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const top = Math.max(1, ...rates);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#2f6fdf');
  line.setAttribute('stroke-width', '1.5');
  line.setAttribute('vector-effect', 'non-scaling-stroke');
  line.setAttribute('points', rates.map((r, i) => `${i},${100 - (95 * r) / top}`).join(' '));
  svg.append(line);
  $('ops-chart').replaceChildren(svg);
}

function startMetrics() {
  if (metricsTimer !== null) return;
  lastOps = null;
  pollMetrics();
  metricsTimer = setInterval(pollMetrics, METRICS_POLL_MS);
}

// ---- wiring ----

$('key-form').addEventListener('submit', (e) => { e.preventDefault(); if ($('key').value.trim() !== '') useKey($('key').value.trim()); });
$('key-forget').addEventListener('click', forgetKey);
$('program-save').addEventListener('click', saveProgram);
$('program-reload').addEventListener('click', loadProgram);
$('member-form').addEventListener('submit', (e) => { e.preventDefault(); searchMembers($('member-q').value.trim()); });
$('summary-reload').addEventListener('click', loadSummary);
if (key() !== null) useKey(key());
