// Sensor tiles: one per <gw>/sensors/<name>/state, a value row and a chart
// per quantity that opens with its history from the gateway (histchart.js)
// and keeps appending live readings.

import { h, setText, domId } from './dom.js';
import { parseReading, formatQuantity, charted, axisValue } from './quantity.js';
import { HistoryChart } from './histchart.js';
import { formatDuration } from './model.js';

export class SensorPanel {
  constructor(container, empty) {
    this.container = container;
    this.empty = empty;
    this.tiles = new Map(); // gw/name -> tile
    this.gateways = new Set();
    this.hc = null; // the HistoryClient of the session, null while offline
    this.ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver((es) => this.resized(es)) : null;
  }

  tile(gw, name) {
    const id = `${gw}/${name}`;
    let t = this.tiles.get(id);
    if (t) return t;
    this.gateways.add(gw);
    const title = h('h3', { class: 'tile-title' }, name);
    const gwLabel = h('span', { class: 'tile-gw' }, gw);
    const avail = h('span', { class: 'badge', role: 'status', 'aria-label': `availability of ${name}` }, 'unknown');
    const age = h('span', { class: 'age', 'aria-label': `age of the last reading of ${name}` }, '');
    const rows = h('div', { class: 'quantities' });
    const el = h(
      'article',
      { class: 'tile sensor', id: domId('sensor', id), 'aria-label': `sensor ${name}`, 'data-sensor': name },
      h('header', { class: 'tile-head' }, title, avail),
      h('div', { class: 'tile-sub' }, gwLabel, age),
      rows,
    );
    t = { id, gw, name, el, avail, age, rows, gwLabel, ts: null, q: new Map(), availText: '' };
    this.tiles.set(id, t);
    this.renderAvail(t);
    const sorted = [...this.tiles.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const next = sorted[sorted.indexOf(t) + 1];
    this.container.insertBefore(el, next ? next.el : null);
    this.empty.hidden = true;
    for (const x of this.tiles.values()) x.gwLabel.hidden = this.gateways.size < 2;
    return t;
  }

  /** A state message arrived. */
  state(gw, name, text, now = Date.now()) {
    const r = parseReading(text);
    if (!r) return;
    const t = this.tile(gw, name);
    const ts = r.ts ?? now;
    if (t.ts !== null && ts < t.ts) return; // older than what is shown
    t.ts = ts;
    for (const q of r.quantities) {
      let row = t.q.get(q.key);
      if (!row) row = this.addQuantity(t, q);
      const f = formatQuantity(q);
      setText(row.value, f.text);
      setText(row.unit, f.unit ? ` ${f.unit}` : '');
      if (row.chart) row.chart.push(t.ts / 1000, q.value);
    }
    this.tick(now);
  }

  availability(gw, name, text) {
    const t = this.tile(gw, name);
    t.availText = text.trim().toLowerCase();
    this.renderAvail(t);
  }

  addQuantity(t, q) {
    const value = h('span', { class: 'value' }, '');
    const unit = h('span', { class: 'unit' }, '');
    const chart = charted(q)
      ? new HistoryChart(
          { topic: `${t.gw}/sensors/${t.name}/state`, field: q.key, label: q.key, what: `${q.label} of ${t.name}`, yValue: (v) => axisValue(q, v), idBase: domId('q', `${t.id}/${q.key}`) },
          () => this.hc && { hc: this.hc, gw: t.gw },
        )
      : null;
    const row = h(
      'div',
      { class: `quantity kind-${q.kind}`, 'data-key': q.key },
      h('div', { class: 'q-line' }, h('span', { class: 'label' }, q.label), h('span', { class: 'reading' }, value, unit)),
      chart && chart.el,
    );
    // Keep the tile's rows in the reading's order: main quantity first.
    const next = [...t.q.values()].find((x) => x.q.rank > q.rank || (x.q.rank === q.rank && x.key > q.key));
    t.rows.insertBefore(row, next ? next.el : null);
    const r = { key: q.key, q, el: row, value, unit, chart, label: q.label };
    t.q.set(q.key, r);
    if (chart) {
      chart.box._chart = chart;
      if (this.ro) this.ro.observe(chart.box);
      chart.load();
    }
    return r;
  }

  /** Marks every tile as stale (no connection) or live again. */
  setStale(stale) {
    this.stale = stale;
    for (const t of this.tiles.values()) this.renderAvail(t);
  }

  renderAvail(t) {
    const s = t.availText || '';
    t.el.classList.toggle('stale', !!this.stale);
    t.el.classList.toggle('offline', s === 'offline');
    if (this.stale) {
      setText(t.avail, 'stale: no connection');
      t.avail.dataset.state = 'stale';
      return;
    }
    setText(t.avail, s || 'unknown');
    t.avail.dataset.state = s === 'online' ? 'ok' : s === 'offline' ? 'bad' : 'unknown';
  }

  /** The session's HistoryClient (null: offline); every chart asks again. */
  setHistory(hc) {
    this.hc = hc;
    if (!hc) return;
    for (const t of this.tiles.values()) for (const r of t.q.values()) if (r.chart) r.chart.load();
  }

  resized(entries) {
    for (const e of entries) if (e.target._chart) e.target._chart.resize(Math.floor(e.contentRect.width));
  }

  /** Once a second and after updates: ages and charts. */
  tick(now = Date.now()) {
    for (const t of this.tiles.values()) {
      if (t.ts !== null) setText(t.age, `${formatDuration((now - t.ts) / 1000)} ago${this.stale ? ', not updating' : ''}`);
      for (const r of t.q.values()) if (r.chart) r.chart.draw();
    }
  }

  clear() {
    for (const t of this.tiles.values()) {
      for (const r of t.q.values()) if (r.chart) r.chart.destroy();
      t.el.remove();
    }
    this.tiles.clear();
    this.gateways.clear();
    this.empty.hidden = false;
  }
}
