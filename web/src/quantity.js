// Sensor readings: JSON objects {"ts": "...", "<quantity>_<unit>": number}
// or third-party JSON ({"temperature": 21.5, "contact": true}). The keys
// alone say what to show, so new sensors need no page code.

import { scaleBytes, fixed, compact } from './format.js';
import { formatDuration } from './model.js';

const UNITS = {
  c: '°C', f: '°F', k: 'K', degc: '°C',
  pct: '%', percent: '%', ppm: 'ppm', ppb: 'ppb',
  pa: 'Pa', hpa: 'hPa', kpa: 'kPa', bar: 'bar', mbar: 'mbar',
  v: 'V', mv: 'mV', a: 'A', ma: 'mA', w: 'W', kw: 'kW', wh: 'Wh', kwh: 'kWh',
  lux: 'lx', lx: 'lx', hz: 'Hz', rpm: 'rpm', db: 'dB', dbm: 'dBm',
  s: 's', ms: 'ms', min: 'min', h: 'h',
  m: 'm', mm: 'mm', cm: 'cm', km: 'km',
  b: 'B', bytes: 'B', kb: 'kB', mb: 'MB', gb: 'GB', kib: 'KiB', mib: 'MiB', gib: 'GiB',
  deg: '°', l: 'L', ml: 'mL', ugm3: 'µg/m³', mps: 'm/s', kmh: 'km/h',
  count: '', total: '', n: '', bool: '', ratio: '', raw: '',
};

// Decimals shown per unit: a fixed number per quantity, so values do not jump.
const DECIMALS = {
  '°C': 1, '°F': 1, K: 1, '%': 1, hPa: 1, Pa: 0, kPa: 2, bar: 3, mbar: 1, ppm: 0, ppb: 0,
  V: 2, mV: 0, A: 2, mA: 0, W: 1, kW: 2, Wh: 0, kWh: 2, lx: 0, Hz: 1, rpm: 0, dB: 1, dBm: 0,
  ms: 0, m: 2, mm: 0, cm: 1, km: 2, '°': 0, L: 2, mL: 0, 'µg/m³': 0, 'm/s': 1, 'km/h': 1, LQI: 0,
};

// Keys without a unit suffix that third-party devices (Zigbee2MQTT,
// Tasmota, Shelly) commonly send, with their usual unit.
const KNOWN = {
  temperature: { unit: '°C' }, humidity: { unit: '%' }, pressure: { unit: 'hPa' },
  battery: { unit: '%', decimals: 0 }, voltage: { unit: 'mV' }, power: { unit: 'W' },
  energy: { unit: 'kWh' }, current: { unit: 'A' }, illuminance: { unit: 'lx' },
  illuminance_lux: { unit: 'lx' }, co2: { unit: 'ppm', label: 'CO₂' }, voc: { unit: 'ppb', label: 'VOC' },
  pm25: { unit: 'µg/m³', label: 'PM2.5' }, pm10: { unit: 'µg/m³', label: 'PM10' },
  linkquality: { unit: 'LQI', label: 'Link quality' }, soil_moisture: { unit: '%' },
  cpu_load: { decimals: 2, label: 'CPU load' }, load1: { decimals: 2 },
  uptime: { unit: 's' },
};

// States shown in words: [true, false].
const STATES = {
  contact: ['closed', 'open'], occupancy: ['occupied', 'clear'], presence: ['present', 'absent'],
  water_leak: ['leak', 'dry'], smoke: ['smoke', 'clear'], tamper: ['tampered', 'ok'],
  battery_low: ['low', 'ok'], vibration: ['vibrating', 'still'], state: ['on', 'off'],
};

// The main quantity comes first: the order of these key prefixes.
const RANK = [
  'temperature', 'humidity', 'pressure', 'co2', 'voc', 'pm25', 'pm10', 'illuminance', 'power', 'energy',
  'voltage', 'current', 'contact', 'occupancy', 'presence', 'water_leak', 'smoke', 'state',
  'cpu_load', 'load', 'mem', 'disk', 'battery', 'linkquality',
];

function rankOf(base, kind) {
  const i = RANK.findIndex((r) => base === r || base.startsWith(r + '_') || base.startsWith(r));
  const r = i < 0 ? RANK.length : i;
  return kind === 'counter' || kind === 'duration' ? 1000 + r : r;
}

/**
 * Describes a reading key: {key, label, unit, kind, decimals, rank}.
 * kind is measure (charted), counter (a running total: shown, not
 * charted), duration, bytes, or state (a boolean shown in words).
 * "temperature_c" -> Temperature, °C; "load1" -> Load1, no unit.
 */
export function parseQuantityKey(key) {
  let base = key;
  let unit = '';
  let suffix = '';
  const i = key.lastIndexOf('_');
  if (i > 0 && i < key.length - 1) {
    const s = key.slice(i + 1).toLowerCase();
    if (Object.prototype.hasOwnProperty.call(UNITS, s)) {
      suffix = s;
      unit = UNITS[s];
      base = key.slice(0, i);
    }
  }
  const known = KNOWN[key.toLowerCase()];
  if (!suffix && known && known.unit) unit = known.unit;
  let kind = 'measure';
  if (suffix === 'count' || suffix === 'total') kind = 'counter';
  else if (unit === 's' || unit === 'min' || unit === 'h') kind = 'duration';
  else if (unit === 'B') kind = 'bytes';
  const label = (known && known.label) || (KNOWN[base.toLowerCase()] && KNOWN[base.toLowerCase()].label) || labelOf(base);
  const decimals = known && known.decimals !== undefined ? known.decimals : DECIMALS[unit] ?? 2;
  return { key, label, unit, kind, decimals, rank: rankOf(base.toLowerCase(), kind) };
}

function labelOf(name) {
  const s = name.replace(/_/g, ' ').trim();
  return s ? s[0].toUpperCase() + s.slice(1) : name;
}

const UNIT_WORD = { B: 'bytes', '%': 'percent', s: 'time' };

/**
 * Parses a sensor state payload. Returns {ts (ms or null), quantities:
 * [{key, label, unit, kind, decimals, rank, value}]}, main quantity first,
 * or null if it is not a JSON object. Numbers and booleans are kept
 * (booleans, and ON/OFF strings of known state keys, as kind 'state').
 * Two quantities with the same label get their unit in the label.
 */
export function parseReading(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const ts = typeof v.ts === 'string' ? Date.parse(v.ts) : typeof v.ts === 'number' ? v.ts : NaN;
  const quantities = [];
  for (const k of Object.keys(v)) {
    if (k === 'ts') continue;
    const x = v[k];
    if (typeof x === 'number' && Number.isFinite(x)) {
      quantities.push({ ...parseQuantityKey(k), value: x });
    } else if (typeof x === 'boolean' || (typeof x === 'string' && STATES[k.toLowerCase()] && /^(on|off|true|false)$/i.test(x))) {
      const q = parseQuantityKey(k);
      const b = typeof x === 'boolean' ? x : /^(on|true)$/i.test(x);
      quantities.push({ ...q, unit: '', kind: 'state', value: b });
    }
  }
  const byLabel = new Map();
  for (const q of quantities) byLabel.set(q.label, (byLabel.get(q.label) || 0) + 1);
  for (const q of quantities) {
    if (byLabel.get(q.label) > 1) q.label = `${q.label} (${UNIT_WORD[q.unit] || q.unit || q.key})`;
  }
  quantities.sort((a, b) => a.rank - b.rank || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { ts: Number.isFinite(ts) ? ts : null, quantities };
}

/**
 * Formats a quantity's value for a tile: {text, unit}. Bytes scale
 * (77.3 GiB), durations read as time (11 min 35 s), states as words,
 * measures with the quantity's fixed decimals.
 */
export function formatQuantity(q, value = q.value) {
  switch (q.kind) {
    case 'state': {
      const words = STATES[q.key.toLowerCase()] || ['yes', 'no'];
      return { text: value ? words[0] : words[1], unit: '' };
    }
    case 'bytes':
      return scaleBytes(value);
    case 'duration': {
      const mult = q.unit === 'h' ? 3600 : q.unit === 'min' ? 60 : 1;
      return { text: formatDuration(value * mult), unit: '' };
    }
    case 'counter':
      return { text: fixed(value, 0), unit: q.unit };
    default:
      return { text: fixed(value, q.decimals), unit: q.unit };
  }
}

/** Whether a quantity is worth a chart (measures and bytes; not counters, states, uptimes). */
export function charted(q) {
  return q.kind === 'measure' || q.kind === 'bytes';
}

/** An axis label for a quantity: bytes scale, other values are compact. */
export function axisValue(q, v) {
  if (q.kind === 'bytes') {
    const s = scaleBytes(v);
    return `${s.text} ${s.unit}`;
  }
  return compact(v);
}

/** Formats a reading value with a sensible number of decimals (no unit known). */
export function formatValue(v) {
  const a = Math.abs(v);
  if (Number.isInteger(v)) return String(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  return v.toFixed(2);
}
