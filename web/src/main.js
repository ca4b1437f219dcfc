// The dashboard page: wires the session, the panels and the status bar.

import mqtt from 'mqtt';
import { Session } from './session.js';
import { SensorPanel } from './sensors.js';
import { ActuatorPanel } from './actuators.js';
import { Explorer } from './explorer.js';
import { classifyTopic, SysStats, formatDuration } from './model.js';
import { mayWrite, mayWriteAny, topicNameError } from './topics.js';
import { h, setText } from './dom.js';
import { HistoryClient } from './history.js';

const $ = (id) => document.getElementById(id);
const text = new TextDecoder();

const session = new Session({
  mqttConnect: (url, opts) => mqtt.connect(url, opts),
  fetch: (...a) => fetch(...a),
  storage: sessionStorage,
  location,
});
const sensors = new SensorPanel($('sensors'), $('sensors-empty'));
const explorer = new Explorer(
  { list: $('topic-list'), count: $('topic-count'), filter: $('topic-filter'), filterNote: $('filter-note'), detail: $('detail') },
  {
    fill: (topic, payload, qos, retain) => fillForm(topic, payload, qos, retain),
    remove: (topic) => publish(topic, '', { qos: 1, retain: true }),
    mayDelete: (topic) => mayWrite(access.write, topic),
    history: () => history && historyGateway() && { hc: history, gw: historyGateway() },
  },
);
const sys = new SysStats();
const gwStatus = new Map();
const uplinks = new Map();
let client = null;
let history = null; // the session's HistoryClient (MQTT 5 request/response)
let access = { write: [], role: '' };

const actuators = new ActuatorPanel($('actuators'), $('actuators-empty'), (topic, payload) =>
  publish(topic, payload, { qos: 1, retain: false }),
);

function publish(topic, payload, opts) {
  return new Promise((resolve, reject) => {
    if (!client) return reject(new Error('not connected'));
    if (!mayWrite(access.write, topic)) return reject(new Error(`your role may not publish to ${topic}`));
    client.publish(topic, payload, opts, (err) => (err ? reject(new Error(err.message || 'refused by the gateway')) : resolve()));
  });
}

/** The gateway asked for history of a topic that is not its own sensor's: the one seen first. */
function historyGateway() {
  return gwStatus.keys().next().value || sensors.gateways.values().next().value || '';
}

function setHistory(hc) {
  if (history && history !== hc) history.forget();
  history = hc;
  sensors.setHistory(hc);
  explorer.pane.historyChanged();
}

function showApp(on) {
  $('login').hidden = on;
  $('app').hidden = !on;
  $('logout').hidden = !on;
}

function resetData() {
  sensors.clear();
  actuators.clear();
  explorer.clear();
  gwStatus.clear();
  uplinks.clear();
  renderGateway();
  renderUplinks();
}

// --- login ---------------------------------------------------------------

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const btn = $('login-button');
  const err = $('login-error');
  setText(err, '');
  btn.disabled = true;
  setText(btn, 'Signing in…');
  try {
    await session.login($('username').value.trim(), $('password').value);
    $('password').value = '';
  } catch (e) {
    setText(err, e.message);
    $('password').focus();
    $('password').select();
  } finally {
    btn.disabled = false;
    setText(btn, 'Sign in');
  }
});

$('logout').addEventListener('click', () => {
  client = null;
  setHistory(null);
  session.logout();
  resetData();
  setText($('who'), '');
  showApp(false);
  $('username').focus();
});

$('retry').addEventListener('click', () => session.retryNow());

session.onLogout = (msg) => {
  client = null;
  setHistory(null);
  resetData();
  showApp(false);
  setText($('login-error'), msg);
};

session.onConnect = (c, info) => {
  client = c;
  access = { write: info.write, role: info.role };
  setText($('who'), info.role ? `${info.username} (${info.role})` : info.username);
  showApp(true);
  // Retain As Published: a retained message stays marked as retained
  // when it arrives live, not only when replayed on subscribe.
  c.subscribe({ '#': { qos: 2, rap: true }, '$SYS/#': { qos: 0, rap: true } }, () => {});
  // Charts open with their history: asked on this session, answered to it alone.
  const hc = new HistoryClient(c, '');
  hc.subscribe().catch(() => {}); // now, so the first charts' requests need no SUBACK first
  setHistory(hc);
  actuators.setAccess(info.write, true, info.role);
  const canPublish = mayWriteAny(info.write);
  for (const el of $('publish-form').elements) el.disabled = !canPublish;
  setText($('pub-result'), '');
  renderPublishWhy();
  if (session.connects > 1) notice('reconnected');
};

function roleName() {
  return access.role || 'without a role';
}

/** Says in words what the user may publish, under the form. */
function renderPublishWhy() {
  const w = access.write;
  const el = $('pub-why');
  const topic = $('pub-topic').value;
  let t = '';
  if (!mayWriteAny(w)) t = `Your role (${roleName()}) may not publish: it can only read.`;
  else if (topic && !/[+#]/.test(topic) && !mayWrite(w, topic)) t = `Your role (${roleName()}) may not publish to ${topic}; it may publish to ${w.join(', ')}.`;
  else if (w && !w.includes('#')) t = `Your role (${roleName()}) may publish to ${w.join(', ')}.`;
  setText(el, t);
  el.dataset.state = t && (!mayWriteAny(w) || (topic && !mayWrite(w, topic))) ? 'denied' : '';
}

$('pub-topic').addEventListener('input', () => renderPublishWhy());

function fillForm(topic, payload, qos, retain) {
  $('pub-topic').value = topic;
  $('pub-payload').value = payload;
  $('pub-qos').value = String(qos);
  $('pub-retain').checked = !!retain;
  renderPublishWhy();
  $('publish-form').scrollIntoView({ block: 'nearest' });
  $('pub-topic').focus();
}

let noticeTimer = null;
function notice(text) {
  setText($('notice'), text);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => setText($('notice'), ''), 5000);
}

session.onMessage = (topic, payload, packet) => {
  if (history && history.onMessage(topic, payload, packet)) return;
  explorer.add(topic, payload, packet, session.connects);
  if (topic.startsWith('$SYS/')) {
    if (sys.update(topic, text.decode(payload))) renderSys();
    return;
  }
  const c = classifyTopic(topic);
  if (!c) return;
  const s = text.decode(payload);
  switch (c.kind) {
    case 'sensorState':
      sensors.state(c.gw, c.name, s);
      break;
    case 'sensorAvailability':
      sensors.availability(c.gw, c.name, s);
      break;
    case 'actuatorState':
      actuators.state(c.gw, c.name, s);
      break;
    case 'status':
      gwStatus.set(c.gw, s.trim());
      renderGateway();
      break;
    case 'uplinkState':
      uplinks.set(`${c.gw}/${c.name}`, { name: c.name, text: s });
      renderUplinks();
      break;
  }
};

// --- status bar ------------------------------------------------------------

session.onState = () => renderConn();

function renderConn() {
  const st = session.state;
  const el = $('conn');
  el.dataset.phase = st.phase;
  el.dataset.connects = String(session.connects);
  let t;
  switch (st.phase) {
    case 'connected':
      t = 'connected';
      break;
    case 'connecting':
      t = 'connecting…';
      break;
    case 'reconnecting': {
      const s = Math.max(0, Math.ceil((st.retryAt - Date.now()) / 1000));
      t = `reconnecting in ${s} s` + (st.message ? ` (${st.message})` : '');
      break;
    }
    default:
      t = 'offline';
  }
  setText(el, t);
  $('statusbar').classList.toggle('stale', st.phase !== 'connected');
  renderGateway();
  $('retry').hidden = st.phase !== 'reconnecting';
  actuators.setAccess(access.write, st.phase === 'connected', access.role);
  sensors.setStale(st.phase !== 'connected');
  if (st.phase !== 'connected' && history) setHistory(null);
  if (st.phase !== 'connected') setText($('notice'), '');
  $('pub-button').disabled = st.phase !== 'connected' || !mayWriteAny(access.write);
}

function renderSys() {
  setText($('sys-clients'), sys.clients === null ? '–' : String(sys.clients));
  setText($('sys-rate'), sys.msgRate === null ? '–' : sys.msgRate.toFixed(1));
  setText($('sys-uptime'), sys.uptime === null ? '–' : formatDuration(sys.uptime));
}

function renderGateway() {
  const el = $('gw-status');
  if (session.state.phase !== 'connected') {
    setText(el, 'gateway: not connected');
    el.dataset.state = 'bad';
    return;
  }
  if (gwStatus.size === 0) {
    setText(el, 'gateway: unknown');
    delete el.dataset.state;
    return;
  }
  const parts = [...gwStatus].map(([gw, s]) => `${gw}: ${s || 'unknown'}`);
  setText(el, parts.join(', '));
  const all = [...gwStatus.values()];
  el.dataset.state = all.every((s) => s === 'online') ? 'ok' : 'bad';
}

function uplinkText(raw) {
  try {
    const v = JSON.parse(raw);
    if (v && typeof v === 'object') {
      if (typeof v.state === 'string') return v.state;
      if (typeof v.connected === 'boolean') return v.connected ? 'connected' : 'disconnected';
    }
    if (typeof v === 'string') return v;
  } catch {
    /* plain text */
  }
  return raw.trim().slice(0, 40);
}

function renderUplinks() {
  const box = $('uplinks');
  box.replaceChildren(
    ...[...uplinks.values()].map((u) => {
      const st = uplinkText(u.text);
      return h('span', { class: 'badge', 'data-state': st === 'connected' || st === 'online' || st === 'up' ? 'ok' : 'bad' }, `uplink ${u.name}: ${st}`);
    }),
  );
}

// --- publish form ----------------------------------------------------------

$('publish-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const topic = $('pub-topic').value;
  const out = $('pub-result');
  const bad = topicNameError(topic);
  if (bad) return setText(out, bad);
  if (!mayWrite(access.write, topic)) return setText(out, `your role may not publish to ${topic}`);
  const qos = Number($('pub-qos').value);
  try {
    const retain = $('pub-retain').checked;
    await publish(topic, $('pub-payload').value, { qos, retain });
    $('pub-retain').checked = false; // a retained publish is a deliberate, single act
    setText(out, (qos > 0 ? `published to ${topic} (acknowledged)` : `published to ${topic}`) + (retain ? ', retained' : ''));
  } catch (e) {
    setText(out, `not published: ${e.message}`);
  }
});

// --- timers ----------------------------------------------------------------

let ticks = 0;
setInterval(() => {
  sensors.tick();
  if (session.state.phase === 'reconnecting') renderConn();
  if (++ticks % 2 === 0) explorer.refreshRates();
}, 1000);
setInterval(() => explorer.flush(), 250);

// --- start -----------------------------------------------------------------

if (session.resume()) showApp(true);
else {
  showApp(false);
  $('username').focus();
}
renderConn();
