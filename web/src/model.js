// What the gateway's topics mean (shared/specs/interfaces.md): topic
// classification, actuator states, $SYS figures, durations.

/**
 * Classifies a topic: {kind, gw, name} with kind one of sensorState,
 * sensorAvailability, actuatorState, actuatorSet, status, uplinkState, or
 * null for anything else.
 */
export function classifyTopic(topic) {
  const p = topic.split('/');
  if (p[0] === '' || p[0].startsWith('$')) return null;
  if (p.length === 2 && p[1] === 'status') return { kind: 'status', gw: p[0], name: '' };
  if (p.length !== 4 || p[2] === '') return null;
  const [gw, group, name, leaf] = p;
  if (group === 'sensors' && leaf === 'state') return { kind: 'sensorState', gw, name };
  if (group === 'sensors' && leaf === 'availability') return { kind: 'sensorAvailability', gw, name };
  if (group === 'actuators' && leaf === 'state') return { kind: 'actuatorState', gw, name };
  if (group === 'actuators' && leaf === 'set') return { kind: 'actuatorSet', gw, name };
  if (group === 'uplink' && leaf === 'state') return { kind: 'uplinkState', gw, name };
  return null;
}

const ON = new Set(['on', 'true', '1', 'yes', 'high']);
const OFF = new Set(['off', 'false', '0', 'no', 'low']);

function boolOf(v) {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (ON.has(s)) return true;
    if (OFF.has(s)) return false;
  }
  return null;
}

/**
 * Parses an actuator state payload: plain "on"/"off" (and synonyms), a JSON
 * string or boolean, or a JSON object with "state", "on" or "value".
 * Returns true, false, or null when it cannot tell.
 */
export function parseActuatorState(text) {
  const plain = boolOf(text);
  if (plain !== null) return plain;
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const k of ['state', 'on', 'value']) {
      if (k in v) {
        const b = boolOf(v[k]);
        if (b !== null) return b;
      }
    }
    return null;
  }
  return boolOf(v);
}

/** Formats seconds as "42 s", "3 min 5 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(sec) {
  sec = Math.max(0, Math.floor(sec));
  if (sec < 60) return `${sec} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m} min ${sec % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/**
 * The broker's $SYS figures. Messages per second come from the deltas of
 * $SYS/broker/messages/received between two updates.
 */
export class SysStats {
  constructor() {
    this.clients = null;
    this.uptime = null;
    this.msgRate = null;
    this.last = null; // {count, time}
  }

  /** Feeds one $SYS message; returns true if a shown figure changed. */
  update(topic, text, now = Date.now()) {
    const n = Number(String(text).trim());
    if (!Number.isFinite(n)) return false;
    switch (topic) {
      case '$SYS/broker/clients/connected':
        this.clients = n;
        return true;
      case '$SYS/broker/uptime':
        this.uptime = n;
        return true;
      case '$SYS/broker/messages/received': {
        const prev = this.last;
        this.last = { count: n, time: now };
        if (prev && now > prev.time && n >= prev.count) {
          this.msgRate = ((n - prev.count) * 1000) / (now - prev.time);
          return true;
        }
        return false;
      }
      default:
        return false;
    }
  }
}
