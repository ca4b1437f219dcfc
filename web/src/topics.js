// MQTT topic filters and the live topic tree of the explorer. Pure logic,
// no DOM: unit-tested in Node.

/**
 * Reports whether an MQTT topic filter (with + and #) matches a topic name.
 * Wildcards at the first level do not match topics starting with '$'
 * (MQTT 3.1.1 §4.7.2, MQTT 5 §4.7.2).
 */
export function filterMatches(filter, topic) {
  if (typeof filter !== 'string' || typeof topic !== 'string' || filter === '' || topic === '') return false;
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] === '+') continue;
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Reports whether a user with the given write filters may publish to topic.
 * writeFilters null means "unknown" (the gateway did not say): allowed, the
 * broker still decides.
 */
export function mayWrite(writeFilters, topic) {
  if (writeFilters == null) return true;
  return writeFilters.some((f) => filterMatches(f, topic));
}

/** Reports whether any topic at all may be written (enables the publish form). */
export function mayWriteAny(writeFilters) {
  return writeFilters == null || writeFilters.length > 0;
}

/** Checks a topic name for publishing; returns an error text or ''. */
export function topicNameError(topic) {
  if (!topic) return 'enter a topic';
  if (/[+#]/.test(topic)) return 'a topic to publish to cannot contain + or #';
  if (topic.includes('\u0000')) return 'a topic cannot contain NUL';
  if (new TextEncoder().encode(topic).length > 65535) return 'topic too long';
  return '';
}

/**
 * Parses the CONNACK user property "write" (a JSON array of filters).
 * Returns null when missing or malformed.
 */
export function parseWriteProperty(value) {
  if (Array.isArray(value)) value = value[value.length - 1];
  if (typeof value !== 'string') return null;
  try {
    const v = JSON.parse(value);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    /* fall through */
  }
  return null;
}

/**
 * Messages per second over a sliding window. The rate is the count in the
 * window divided by the time observed (at least minSpanMs, at most windowMs)
 * so a single retained message does not read as a burst.
 */
export class RateMeter {
  constructor(windowMs = 60000, minSpanMs = 10000, cap = 512) {
    this.windowMs = windowMs;
    this.minSpanMs = minSpanMs;
    this.cap = cap;
    this.times = [];
    this.first = null;
  }

  add(now) {
    if (this.first === null) this.first = now;
    this.times.push(now);
    if (this.times.length > this.cap) this.times.shift();
  }

  rate(now) {
    const from = now - this.windowMs;
    while (this.times.length && this.times[0] <= from) this.times.shift();
    if (this.first === null) return 0;
    const span = Math.min(this.windowMs, Math.max(this.minSpanMs, now - this.first));
    return (this.times.length * 1000) / span;
  }
}

/** One level of the topic tree. msg is null for levels never published to. */
export class TopicNode {
  constructor(name, topic, parent) {
    this.name = name;
    this.topic = topic;
    this.parent = parent;
    this.children = new Map();
    this.msg = null;
    this.count = 0;
    this.meter = new RateMeter();
  }

  /** Children sorted by name ($ topics last). */
  sortedChildren() {
    return [...this.children.values()].sort((a, b) => {
      const ad = a.name.startsWith('$');
      const bd = b.name.startsWith('$');
      if (ad !== bd) return ad ? 1 : -1;
      return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    });
  }

  /** Number of topics with a message at or below this node. */
  topicCount() {
    let n = this.msg ? 1 : 0;
    for (const c of this.children.values()) n += c.topicCount();
    return n;
  }
}

/** The tree of every topic received, with the last message of each. */
export class TopicTree {
  constructor() {
    this.root = new TopicNode('', '', null);
    this.size = 0;
  }

  /**
   * Records a message; returns the node. An empty retained payload deletes
   * the retained message, which the tree shows as an empty payload.
   */
  add(topic, payload, { retain = false, qos = 0 } = {}, now = Date.now()) {
    let node = this.root;
    const levels = topic.split('/');
    levels.forEach((name, i) => {
      let child = node.children.get(name);
      if (!child) {
        child = new TopicNode(name, levels.slice(0, i + 1).join('/'), node);
        node.children.set(name, child);
      }
      node = child;
    });
    if (!node.msg) this.size++;
    node.msg = { payload, retain: !!retain, qos, time: now };
    node.count++;
    node.meter.add(now);
    return node;
  }

  get(topic) {
    let node = this.root;
    for (const name of topic.split('/')) {
      node = node.children.get(name);
      if (!node) return null;
    }
    return node;
  }

  /** Topic names with a message, depth-first in display order. */
  topics() {
    const out = [];
    const walk = (n) => {
      for (const c of n.sortedChildren()) {
        if (c.msg) out.push(c.topic);
        walk(c);
      }
    };
    walk(this.root);
    return out;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Renders a payload for display: pretty JSON when it parses as an object or
 * array, the text when it is UTF-8, else a hex dump. Always plain text.
 */
export function formatPayload(bytes, maxLen = 4096) {
  if (typeof bytes === 'string') bytes = new TextEncoder().encode(bytes);
  if (bytes.length === 0) return { text: '', kind: 'empty' };
  let text;
  try {
    text = utf8.decode(bytes);
  } catch {
    const shown = Array.from(bytes.slice(0, 256), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return { text: `${bytes.length} bytes: ${shown}${bytes.length > 256 ? ' …' : ''}`, kind: 'binary' };
  }
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return { text: clip(JSON.stringify(JSON.parse(t), null, 2), maxLen), kind: 'json' };
    } catch {
      /* not JSON */
    }
  }
  return { text: clip(text, maxLen), kind: 'text' };
}

function clip(s, n) {
  return s.length > n ? s.slice(0, n) + ' …' : s;
}
