// Sensor readings: JSON objects {"ts": "...", "<quantity>_<unit>": number}.
// The keys alone say what to show, so new sensors need no page code.

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
  count: '', n: '', bool: '', ratio: '', raw: '',
};

/**
 * Splits a reading key such as "temperature_c" or "mem_used_pct" into a
 * label ("Temperature", "Mem used") and a unit ("°C", "%"). A key without
 * an underscore, or whose last part is not a known unit, keeps its whole
 * name as the label: "load1" -> "Load1", unit ''.
 */
export function parseQuantityKey(key) {
  const i = key.lastIndexOf('_');
  if (i > 0 && i < key.length - 1) {
    const suffix = key.slice(i + 1).toLowerCase();
    if (Object.prototype.hasOwnProperty.call(UNITS, suffix)) {
      return { key, label: labelOf(key.slice(0, i)), unit: UNITS[suffix] };
    }
  }
  return { key, label: labelOf(key), unit: '' };
}

function labelOf(name) {
  const s = name.replace(/_/g, ' ').trim();
  return s ? s[0].toUpperCase() + s.slice(1) : name;
}

/**
 * Parses a sensor state payload. Returns {ts (ms or null), quantities:
 * [{key,label,unit,value}]} sorted by key, or null if it is not a JSON
 * object. Non-numeric fields other than ts are ignored.
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
  const quantities = Object.keys(v)
    .filter((k) => k !== 'ts' && typeof v[k] === 'number' && Number.isFinite(v[k]))
    .sort()
    .map((k) => ({ ...parseQuantityKey(k), value: v[k] }));
  return { ts: Number.isFinite(ts) ? ts : null, quantities };
}

/** Formats a reading value with a sensible number of decimals. */
export function formatValue(v) {
  const a = Math.abs(v);
  if (Number.isInteger(v)) return String(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  return v.toFixed(2);
}
