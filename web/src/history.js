// History from the gateway: MQTT 5 request/response on the session the
// dashboard already has (no second login). A request goes to
// <gw>/history/query with a Response Topic in the client's own reply space
// ($reply/<client id>/...) and Correlation Data; the gateway answers there,
// to this client alone, in columns (see the README's "History").

// RANGES are the ranges the charts offer, with their length in seconds.
export const RANGES = [
  ['1h', 3600],
  ['6h', 6 * 3600],
  ['24h', 24 * 3600],
  ['7d', 7 * 86400],
  ['30d', 30 * 86400],
];

export const requestTopic = (gw) => `${gw}/history/query`;
export const replyTopic = (clientId) => `$reply/${clientId}/history`;

// HistoryClient sends queries over an MQTT.js client (protocolVersion 5)
// and resolves each with its answer, matched by correlation data.
export class HistoryClient {
  constructor(client, gw, { timeoutMs = 10000 } = {}) {
    this.client = client;
    this.gw = gw;
    this.timeoutMs = timeoutMs;
    this.waiting = new Map(); // correlation id -> {resolve, reject, timer}
    this.next = 1;
    this.reply = replyTopic(client.options.clientId);
    this.subscribed = null;
  }

  // onMessage takes every message of the client; it returns true for an
  // answer it consumed.
  onMessage(topic, payload, packet) {
    if (topic !== this.reply) return false;
    const corr = packet?.properties?.correlationData;
    const id = corr ? new TextDecoder().decode(corr) : '';
    const w = this.waiting.get(id);
    if (!w) return true;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    try {
      const a = JSON.parse(new TextDecoder().decode(payload));
      if (a.error) w.reject(new Error(a.error));
      else w.resolve(a);
    } catch (e) {
      w.reject(e);
    }
    return true;
  }

  subscribe() {
    if (!this.subscribed) {
      this.subscribed = new Promise((resolve, reject) => {
        this.client.subscribe(this.reply, { qos: 0 }, (err, granted) => {
          if (err || !granted?.length || granted[0].qos > 2) {
            this.subscribed = null;
            reject(err || new Error('history replies refused'));
          } else resolve();
        });
      });
    }
    return this.subscribed;
  }

  // query asks for one series; req is {topic, field, range} or {op:'series'};
  // gw is the gateway asked (by default the one given to the constructor).
  async query(req, gw = this.gw) {
    await this.subscribe();
    const id = String(this.next++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error('history: no answer'));
      }, this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.client.publish(requestTopic(gw), JSON.stringify(req), {
        qos: 1,
        properties: { responseTopic: this.reply, correlationData: new TextEncoder().encode(id) },
      });
    });
  }

  // forget rejects what is waiting (the session ended).
  forget() {
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(new Error('history: disconnected'));
      this.waiting.delete(id);
    }
    this.subscribed = null;
  }
}

// toColumns turns an answer into uPlot's columns: seconds, values, and
// for aggregated answers the min and max bands; nulls stay nulls (gaps).
export function toColumns(a) {
  const t = a.t.map((ms) => ms / 1000);
  const cols = [t, a.v.slice()];
  if (a.min && a.max) cols.push(a.min.slice(), a.max.slice());
  return cols;
}

// merge appends live points (seconds, value) newer than the answer's last.
export function mergeLive(cols, live) {
  const last = cols[0].length ? cols[0][cols[0].length - 1] : -Infinity;
  for (const [t, v] of live) {
    if (t <= last) continue;
    cols[0].push(t);
    cols[1].push(v);
    for (let i = 2; i < cols.length; i++) cols[i].push(v);
  }
  return cols;
}

const csvCell = (s) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

// toCSV is what the chart shows, one row per point: ISO time, value and
// (aggregated) min and max; a gap is an empty value.
export function toCSV(cols, label = 'value') {
  const agg = cols.length > 2;
  const head = ['time', csvCell(label)];
  if (agg) head.push('min', 'max');
  const rows = [head.join(',')];
  for (let i = 0; i < cols[0].length; i++) {
    const cell = (c) => (cols[c][i] == null ? '' : String(cols[c][i]));
    const row = [new Date(cols[0][i] * 1000).toISOString(), cell(1)];
    if (agg) row.push(cell(2), cell(3));
    rows.push(row.join(','));
  }
  return rows.join('\n') + '\n';
}

/** A file name for a chart's CSV: <topic>-<field>-<range>.csv, safe on any file system. */
export function csvName(topic, field, range) {
  const safe = (s) => s.replace(/[^\w.-]+/g, '_').replace(/^[._]+|[._]+$/g, '') || 'value';
  return `${[topic, field].filter((s) => s !== '').map(safe).join('-')}-${range}.csv`;
}

/** The values shown (not gaps) of a chart's columns. */
export function pointCount(cols) {
  let c = 0;
  for (const v of cols[1]) if (v !== null && v !== undefined) c++;
  return c;
}
