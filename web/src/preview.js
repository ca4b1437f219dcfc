// Payload previews for the explorer: one line for a row, whole text for
// the detail pane, JSON when it parses. Payloads are untrusted: callers
// put these strings in the DOM as text only.

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a payload: {text, kind: 'empty'|'text'|'json'|'binary', json?}. Cached on the message. */
export function decode(m) {
  if (m.decoded) return m.decoded;
  const b = m.payload;
  let d;
  if (b.length === 0) d = { text: '', kind: 'empty' };
  else {
    try {
      const text = utf8.decode(b);
      d = { text, kind: 'text' };
      const t = text.trimStart();
      if (t.startsWith('{') || t.startsWith('[')) {
        try {
          d = { text, kind: 'json', json: JSON.parse(text) };
        } catch {
          /* not JSON */
        }
      }
    } catch {
      d = { text: hex(b, 256), kind: 'binary' };
    }
  }
  m.decoded = d;
  return d;
}

export function hex(b, max) {
  const shown = Array.from(b.subarray(0, max), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return `${b.length} bytes: ${shown}${b.length > max ? ' …' : ''}`;
}

/** One line, at most n characters, for a tree row. */
export function oneLine(m, n = 120) {
  if (m.line !== undefined) return m.line;
  const d = decode(m);
  let s;
  if (d.kind === 'empty') s = '(empty)';
  else if (d.kind === 'binary') s = `(${m.payload.length} bytes, binary)`;
  else s = d.text.slice(0, n * 2).replace(/\s+/g, ' ').trim().slice(0, n);
  m.line = s;
  return s;
}

/** Flattens JSON to [path, value] pairs of its leaves ("a.b[2]"), at most max. */
export function leaves(v, max = 2000) {
  const out = [];
  const walk = (x, path) => {
    if (out.length >= max) return;
    if (x && typeof x === 'object') {
      const entries = Array.isArray(x) ? x.map((y, i) => [`${path}[${i}]`, y]) : Object.entries(x).map(([k, y]) => [path ? `${path}.${k}` : k, y]);
      if (entries.length === 0) out.push([path, x]);
      for (const [p, y] of entries) walk(y, p);
    } else out.push([path, x]);
  };
  walk(v, '');
  return out;
}

/**
 * What changed from the previous message: lines like "~ temp: 21 → 22",
 * "+ new: 1", "- gone: 2" for JSON; for text, whether it changed.
 */
export function diff(prev, cur, max = 50) {
  const a = decode(prev);
  const b = decode(cur);
  if (a.kind === 'json' && b.kind === 'json') {
    const pa = new Map(leaves(a.json).map(([p, v]) => [p, JSON.stringify(v)]));
    const pb = new Map(leaves(b.json).map(([p, v]) => [p, JSON.stringify(v)]));
    const out = [];
    for (const [p, v] of pb) {
      if (!pa.has(p)) out.push({ op: '+', text: `${p || '(value)'}: ${v}` });
      else if (pa.get(p) !== v) out.push({ op: '~', text: `${p || '(value)'}: ${pa.get(p)} → ${v}` });
    }
    for (const [p, v] of pa) if (!pb.has(p)) out.push({ op: '-', text: `${p || '(value)'}: ${v}` });
    return out.slice(0, max);
  }
  if (a.text === b.text && a.kind === b.kind) return [];
  return [
    { op: '-', text: a.kind === 'empty' ? '(empty)' : a.text.slice(0, 200) },
    { op: '+', text: b.kind === 'empty' ? '(empty)' : b.text.slice(0, 200) },
  ];
}

/** Numeric leaves of a message, for the chart: [path, value]. A bare number has path ''. */
export function numbers(m) {
  if (m.numbers) return m.numbers;
  const d = decode(m);
  let out = [];
  if (d.kind === 'json') out = leaves(d.json).filter(([, v]) => typeof v === 'number' && Number.isFinite(v));
  else if (d.kind === 'text') {
    const t = d.text.trim();
    if (t !== '' && Number.isFinite(Number(t))) out = [['', Number(t)]];
  }
  m.numbers = out;
  return out;
}

/** The value at a leaf path of a message, or null. */
export function numberAt(m, path) {
  for (const [p, v] of numbers(m)) if (p === path) return v;
  return null;
}
