// Numbers people can read: bytes in binary units, a fixed number of
// decimals, sizes, clock times. Pure functions, unit-tested in Node.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Splits a byte count into a scaled value and unit: 83041312768 -> {text: '77.3', unit: 'GiB'}. */
export function scaleBytes(n) {
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const sign = n < 0 ? '-' : '';
  const text = i === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v.toFixed(1);
  return { text: sign + text, unit: BYTE_UNITS[i] };
}

/** 83041312768 -> "77.3 GiB", 512 -> "512 B". */
export function formatBytes(n) {
  const s = scaleBytes(n);
  return `${s.text} ${s.unit}`;
}

const grouped = new Map();

/** A number with exactly `decimals` decimals and thousands separators: 12345.6 -> "12,345.6". */
export function fixed(v, decimals) {
  let f = grouped.get(decimals);
  if (!f) {
    f = new Intl.NumberFormat('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
    grouped.set(decimals, f);
  }
  const s = f.format(v);
  return s === '-0' || /^-0\.0*$/.test(s) ? s.slice(1) : s;
}

/** A short axis label for any magnitude: 1234567 -> "1.2M", 0.004 -> "0.004". */
export function compact(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e12) return `${trim(v / 1e12)}T`;
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a >= 100) return String(Math.round(v));
  if (a >= 1) return trim(v, 2);
  return String(Number(v.toPrecision(2)));
}

function trim(v, d = 1) {
  return String(Number(v.toFixed(d)));
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Local clock time: "14:03:07" (with ".123" when ms is true). */
export function clockTime(ms, withMs = false) {
  const d = new Date(ms);
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${t}.${pad(d.getMilliseconds(), 3)}` : t;
}

/** How long ago, coarse: "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(ms, now) {
  const s = Math.max(0, Math.floor((now - ms) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
