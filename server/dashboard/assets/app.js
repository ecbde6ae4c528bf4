// berth dashboard: polls the profile's status and berth's guest events, lists containers, and
// follows the engine's events, stats and logs over Server-Sent Events. Every change is a POST carrying the CSRF
// token the page reads from /api/session. Text from the engine is only ever set as text.
'use strict';

const $ = (id) => document.getElementById(id);
const kMaxLogLines = 2000;
const kMaxEvents = 200;
const kSparkPoints = 60;
const kLogFlushMs = 100;

const state = {
  csrf: null,
  status: null,
  containers: [],
  live: false,  // the engine is up: feeds may run
  events: null,
  stats: null,
  statsIds: '',
  logs: null,
  logsId: null,
  follow: true,
  pending: [],
  samples: new Map(),  // container id -> {cpu: [...], pct, mem}
  refreshTimer: null,
  forwards: '',  // the forwarder's table as last drawn
  guestSeq: 0,  // the last of berth's guest events shown
  logQueue: [],  // log lines not drawn yet (flushLogs)
  logFlush: null,
};

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function notice(text, error) {
  const box = $('notice');
  box.textContent = text;
  box.className = error ? 'notice error' : 'notice';
  box.hidden = !text;
}

async function getJson(path) {
  const reply = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw Object.assign(new Error(body.message || reply.statusText), { status: reply.status });
  return body;
}

async function post(path) {
  const reply = await fetch(path, {
    method: 'POST', credentials: 'same-origin', headers: { 'X-Berth-CSRF': state.csrf },
  });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) notice(body.message || ('failed: ' + reply.status), true);
  return reply.ok;
}

// ---- profile

function renderStatus(s) {
  $('profile-name').textContent = s.profile || '';
  const guest = (s.guest && s.guest.state) || s.status || 'Unknown';
  const pill = $('guest-state');
  pill.textContent = guest;
  pill.className = 'pill ' + guest;
  const boot = s.boot || {};
  $('f-driver').textContent = s.driver || '';
  $('f-runtime').textContent = s.runtime || '';
  $('f-resources').textContent = s.cpus + ' CPUs, ' + s.memory + ' GiB';
  $('f-context').textContent = s.context || '';
  $('f-docker-host').textContent = s.dockerHost || '';
  $('f-shares').textContent = (s.mounts || []).map((m) =>
    m.location + ' → ' + m.mountPoint + (m.writable ? ' (rw)' : ' (ro)')).join(', ') || 'none';
  let idle = 'never';
  if (boot.idleStop && boot.idleStop !== '0') {
    if (boot.idleStopInSeconds !== null && boot.idleStopInSeconds !== undefined) {
      idle = 'in ' + Math.ceil(boot.idleStopInSeconds) + ' s unless a client connects (after ' +
        boot.idleStop + ' idle, with no running container)';
    } else if (boot.state === 'up') {
      idle = 'after ' + boot.idleStop + ' idle; waiting: ' + s.connections +
        ' client connection(s) open (this page is none of them)' +
        (s.holds ? ', ' + s.holds + ' berth ssh/ctr/nerdctl running' : '');
    } else {
      idle = 'after ' + boot.idleStop + ' idle';
    }
  }
  $('f-idle').textContent = idle;
  $('f-kubernetes').textContent = (s.kubernetes || {}).enabled ? 'enabled' : 'not enabled';
  const progress = boot.progress || [];
  $('boot-box').hidden = progress.length === 0;
  $('boot-box').querySelector('h3').textContent =
    boot.state === 'booting' ? 'Boot progress' : 'Last boot';
  const list = $('boot-progress');
  if (list.childElementCount !== progress.length) {
    list.replaceChildren(...progress.map((line) => el('li', {}, line)));
  }
  $('guest-start').disabled = boot.state !== 'down';
  $('guest-stop').disabled = boot.state !== 'up';
  $('guest-restart').disabled = boot.state !== 'up';
}

async function pollStatus() {
  try {
    const s = await getJson('/api/status');
    state.status = s;
    renderStatus(s);
    const up = s.boot && s.boot.state === 'up';
    if (up && !state.live) {
      state.live = true;
      refreshContainers();
    } else if (!up && state.live) {
      state.live = false;
      closeFeeds();
      state.containers = [];
      renderContainers();
    }
    if (up) ensureFeeds();
    // The ports column shows each forward's path: redraw when the forwarder's table changed.
    const forwards = JSON.stringify([s.forwards, s.forwardConflicts]);
    if (forwards !== state.forwards) {
      state.forwards = forwards;
      if (state.containers.length) renderContainers();
    }
  } catch (e) {
    notice('the daemon does not answer: ' + e.message, true);
  }
}

// ---- containers

function portOf(host) {
  const i = String(host).lastIndexOf(':');
  return Number(String(host).slice(i + 1));
}

function portCell(c) {
  const td = el('td', { class: 'ports' });
  const s = state.status || {};
  const seen = new Set();
  for (const p of c.Ports || []) {
    if (!p.PublicPort) continue;
    const key = p.PublicPort + '/' + p.Type;
    if (seen.has(key)) continue;
    seen.add(key);
    const match = (f) => f.containerId === c.Id && portOf(f.host) === p.PublicPort && f.proto === p.Type;
    const forward = (s.forwards || []).find(match);
    const conflict = (s.forwardConflicts || []).find(match);
    const label = p.PublicPort + '→' + p.PrivatePort + (p.Type === 'tcp' ? '' : '/' + p.Type);
    const span = el('span', { class: 'port' });
    if (p.Type === 'tcp') {
      span.append(el('a', { href: 'http://127.0.0.1:' + p.PublicPort + '/', target: '_blank',
        rel: 'noopener noreferrer', 'data-port': String(p.PublicPort) }, label));
    } else {
      span.append(el('span', {}, label));
    }
    if (forward) span.append(el('span', { class: 'path' }, ' ' + forward.path + ' '));
    if (conflict) span.append(el('span', { class: 'conflict' }, ' ' + conflict.error + ' '));
    td.append(span);
  }
  return td;
}

function drawSpark(canvas, points) {
  const w = canvas.width = 80;
  const h = canvas.height = 20;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, w, h);
  if (points.length < 2) return;
  const max = Math.max(100, ...points);
  g.strokeStyle = '#2563eb';
  g.beginPath();
  points.forEach((v, i) => {
    const x = w - ((points.length - 1 - i) / (kSparkPoints - 1)) * w;  // newest at the right
    const y = h - 1 - (v / max) * (h - 2);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
}

function formatBytes(n) {
  if (!n) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + units[i];
}

function button(text, onClick, cls) {
  const b = el('button', { type: 'button', class: 'small' + (cls ? ' ' + cls : ''), 'data-action': text.toLowerCase() }, text);
  b.addEventListener('click', onClick);
  return b;
}

async function containerAction(c, action) {
  const name = (c.Names && c.Names[0] || c.Id).replace(/^\//, '');
  if (action === 'remove' &&
      !window.confirm('Remove container ' + name + '? A running container is killed first.')) {
    return;
  }
  notice('');
  if (await post('/api/do/containers/' + encodeURIComponent(c.Id) + '/' + action)) refreshContainers();
}

function renderContainers() {
  const body = document.querySelector('#containers tbody');
  const rows = state.containers.map((c) => {
    const name = (c.Names && c.Names[0] || c.Id).replace(/^\//, '');
    const tr = el('tr', { 'data-id': c.Id, 'data-name': name, 'data-state': c.State });
    tr.append(el('td', {}, name), el('td', {}, c.Image),
      el('td', { class: 'state state-' + c.State }, c.State), el('td', {}, c.Status), portCell(c));
    const sample = state.samples.get(c.Id);
    const cpu = el('td', { class: 'cpu' });
    const canvas = el('canvas', { class: 'spark' });
    const cpuText = el('span', { class: 'cpu-value' }, c.State === 'running' && sample ? sample.pct.toFixed(1) + '%' : '');
    if (sample) cpuText.dataset.cpu = String(sample.pct);
    cpu.append(canvas, cpuText);
    const mem = el('td', { class: 'mem' }, c.State === 'running' && sample ? formatBytes(sample.mem) : '');
    const actions = el('td', { class: 'actions' });
    if (c.State === 'running') {
      actions.append(button('Stop', () => containerAction(c, 'stop')),
        button('Restart', () => containerAction(c, 'restart')));
    } else {
      actions.append(button('Start', () => containerAction(c, 'start')));
    }
    actions.append(button('Logs', () => openLogs(c.Id, name)),
      button('Remove', () => containerAction(c, 'remove'), 'danger'));
    tr.append(cpu, mem, actions);
    if (sample) drawSpark(canvas, sample.cpu);
    return tr;
  });
  body.replaceChildren(...rows);
  $('no-containers').hidden = rows.length > 0 || !state.live;
  const running = state.containers.filter((c) => c.State === 'running').map((c) => c.Id);
  setStatsIds(running.join(','));
}

async function refreshContainers() {
  if (!state.live) return;
  try {
    state.containers = await getJson('/api/containers');
    renderContainers();
  } catch (e) {
    // 503: the guest went down meanwhile (the status poll shows it), not an error to show.
    if (state.live && e.status !== 503) notice('containers: ' + e.message, true);
  }
}

function refreshSoon() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refreshContainers, 100);
}

// ---- live feeds

function onStats(message) {
  const { id, stats: s } = JSON.parse(message.data);
  const cpu = s.cpu_stats || {};
  const pre = s.precpu_stats || {};
  const used = ((cpu.cpu_usage || {}).total_usage || 0) - ((pre.cpu_usage || {}).total_usage || 0);
  const system = (cpu.system_cpu_usage || 0) - (pre.system_cpu_usage || 0);
  const cpus = cpu.online_cpus || ((cpu.cpu_usage || {}).percpu_usage || []).length || 1;
  const pct = system > 0 && used >= 0 ? (used / system) * cpus * 100 : 0;
  const memStats = s.memory_stats || {};
  const inner = memStats.stats || {};
  const mem = (memStats.usage || 0) - (inner.inactive_file || inner.total_inactive_file || 0);
  let sample = state.samples.get(id);
  if (!sample) { sample = { cpu: [], pct: 0, mem: 0 }; state.samples.set(id, sample); }
  sample.pct = pct;
  sample.mem = mem;
  sample.cpu.push(pct);
  if (sample.cpu.length > kSparkPoints) sample.cpu.shift();
  const row = document.querySelector('tr[data-id="' + CSS.escape(id) + '"]');
  if (!row) return;
  const text = row.querySelector('.cpu-value');
  text.textContent = pct.toFixed(1) + '%';
  text.dataset.cpu = String(pct);
  row.querySelector('.mem').textContent = formatBytes(mem);
  drawSpark(row.querySelector('canvas'), sample.cpu);
}

function setStatsIds(ids) {
  if (ids === state.statsIds && state.stats) return;
  if (state.stats) state.stats.close();
  state.stats = null;
  state.statsIds = ids;
  for (const id of state.samples.keys()) if (!ids.split(',').includes(id)) state.samples.delete(id);
  if (!ids || !state.live) return;
  const source = new EventSource('/api/stats?ids=' + encodeURIComponent(ids));
  source.onmessage = onStats;
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED && state.stats === source) state.stats = null;
  };
  state.stats = source;
}

function addEvent(timeMs, type, text) {
  const list = $('events');
  list.prepend(el('li', { 'data-type': type }, new Date(timeMs).toLocaleTimeString() + '  ' + text));
  while (list.childElementCount > kMaxEvents) list.lastElementChild.remove();
}

// One line per engine event: "network create  backend  (bridge)".
function onEvent(message) {
  const e = JSON.parse(message.data);
  const actor = e.Actor || {};
  const attrs = actor.Attributes || {};
  const type = e.Type || '';
  const id = actor.ID || '';
  let name = attrs.name || (type === 'container' ? id.slice(0, 12) : id);
  let detail = '';
  if (type === 'container') detail = attrs.image || '';
  else if (type === 'network') {
    detail = attrs.type || '';
    if (attrs.container) name += ' ↔ ' + attrs.container.slice(0, 12);
  } else if (type === 'volume') detail = attrs.driver || '';
  addEvent(e.timeNano ? e.timeNano / 1e6 : e.time * 1000, type,
    type + ' ' + (e.Action || e.status || '') + '  ' + name + (detail ? '  (' + detail + ')' : ''));
  if (type === 'container') refreshSoon();
}

// berth's own events about the guest: they explain why the engine (and its feed) went away.
async function pollGuestEvents() {
  try {
    for (const g of await getJson('/api/guest-events?after=' + state.guestSeq)) {
      state.guestSeq = Math.max(state.guestSeq, g.seq);
      addEvent(g.time * 1000, 'guest', 'guest ' + g.action + (g.detail ? '  ' + g.detail : ''));
    }
  } catch (e) {
    // the status poll reports a daemon that does not answer
  }
}

function ensureFeeds() {
  if (!state.events) {
    const source = new EventSource('/api/events');
    source.onmessage = onEvent;
    source.onopen = refreshSoon;  // events missed while it was closed
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED && state.events === source) state.events = null;
    };
    state.events = source;
  }
  if (!state.stats && state.statsIds) setStatsIds(state.statsIds);
}

function closeFeeds() {
  if (state.events) state.events.close();
  state.events = null;
  if (state.stats) state.stats.close();
  state.stats = null;
  state.statsIds = '';
}

// ---- logs

// Lines are drawn in batches, at most every kLogFlushMs: one layout and one scroll per batch,
// not per line (a chatty container on a busy machine left the page's main thread behind).
function appendLog(entry) {
  state.logQueue.push(entry);
  if (state.logQueue.length > kMaxLogLines) state.logQueue.shift();
  if (!state.logFlush) state.logFlush = setTimeout(flushLogs, kLogFlushMs);
}

function flushLogs() {
  clearTimeout(state.logFlush);
  state.logFlush = null;
  if (!state.logQueue.length) return;
  const pre = $('log-lines');
  const batch = document.createDocumentFragment();
  for (const entry of state.logQueue) {
    batch.append(el('span', entry.stream === 'stderr' ? { class: 'stderr' } : {}, entry.line + '\n'));
  }
  state.logQueue = [];
  pre.append(batch);
  for (let extra = pre.childElementCount - kMaxLogLines; extra > 0; extra--) pre.firstElementChild.remove();
  if (state.follow) pre.scrollTop = pre.scrollHeight;
}

function openLogs(id, name) {
  if (state.logs) state.logs.close();
  state.logsId = id;
  state.pending = [];
  state.logQueue = [];
  $('log-lines').replaceChildren();
  $('logs-name').textContent = name;
  showTab('logs');
  const source = new EventSource('/api/logs?id=' + encodeURIComponent(id));
  source.onmessage = (m) => {
    const entry = JSON.parse(m.data);
    if (state.follow) {
      appendLog(entry);
    } else {
      state.pending.push(entry);
      if (state.pending.length > kMaxLogLines) state.pending.shift();
    }
  };
  source.addEventListener('end', () => {
    source.close();
    appendLog({ stream: 'stderr', line: '— the container stopped —' });
    flushLogs();
  });
  state.logs = source;
}

function toggleFollow() {
  state.follow = !state.follow;
  const b = $('logs-follow');
  b.textContent = state.follow ? 'Pause' : 'Follow';
  b.setAttribute('aria-pressed', String(state.follow));
  if (state.follow) {
    state.pending.forEach(appendLog);
    state.pending = [];
    flushLogs();
  }
}

// ---- page

function showTab(name) {
  for (const b of document.querySelectorAll('.tabs button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + name;
}

async function main() {
  for (const b of document.querySelectorAll('.tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
  for (const b of document.querySelectorAll('[data-guest]')) {
    b.addEventListener('click', async () => {
      notice('');
      b.disabled = true;
      await post('/api/do/guest/' + b.dataset.guest);
      pollStatus();
    });
  }
  $('logs-follow').addEventListener('click', toggleFollow);
  $('logs-clear').addEventListener('click', () => {
    $('log-lines').replaceChildren();
    state.pending = [];
    state.logQueue = [];
  });
  $('copy-docker-host').addEventListener('click', () => {
    navigator.clipboard.writeText($('f-docker-host').textContent).then(
      () => notice('DOCKER_HOST copied'), () => notice('copy refused by the browser', true));
  });
  state.csrf = (await getJson('/api/session')).csrf;
  // Every second; four times a second while the guest boots or stops, to show its progress.
  const tick = async () => {
    await Promise.all([pollStatus(), pollGuestEvents()]);
    const boot = (state.status && state.status.boot) || {};
    setTimeout(tick, boot.state === 'booting' || boot.state === 'stopping' ? 250 : 1000);
  };
  await tick();
  setInterval(refreshContainers, 5000);  // uptimes
}

main().catch((e) => notice(e.message, true));
