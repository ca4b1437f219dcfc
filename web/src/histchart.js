// A chart of one series (a topic and a field) that opens with its history
// from the gateway and keeps appending live readings: a range selector,
// min/max bands on aggregated ranges, gaps where nothing was recorded, and
// "Download CSV" of exactly what is shown. Used by the sensor tiles and the
// explorer's detail pane.

import uPlot from 'uplot';
import { h, setText } from './dom.js';
import { RANGES, toColumns, mergeLive, toCSV, csvName, pointCount } from './history.js';
import { gapBefore, countValues, timeRange, valueRange, timeLabel } from './series.js';

const RANGE_SECONDS = new Map(RANGES);
const RANGE_WORDS = { '1h': 'last hour', '6h': 'last 6 hours', '24h': 'last 24 hours', '7d': 'last 7 days', '30d': 'last 30 days' };
export const DEFAULT_RANGE = '1h';
// Raw readings of an hour at one a second, with room for live ones.
const MAX_POINTS = 4000;

/**
 * HistoryChart: opts {topic, field, label (series name, CSV column),
 * what (words for the chart's aria-label), height, yValue(v) -> axis text,
 * idBase (unique id for the range selector), live [[sec, value]...]}.
 * client(): {hc, gw} or null, asked at each load.
 */
export class HistoryChart {
  constructor(opts, client) {
    this.o = opts;
    this.client = client;
    this.range = opts.range || DEFAULT_RANGE;
    this.data = mergeLive([[], []], opts.live || []);
    this.to = null; // end of the asked range (seconds), null: live only
    this.plot = null;
    this.dirty = true;
    this.seq = 0;
    const selId = `${opts.idBase}-range`;
    this.select = h('select', { id: selId, class: 'h-range' }, ...RANGES.map(([r]) => h('option', { value: r }, r)));
    this.select.value = this.range;
    this.select.addEventListener('change', () => this.setRange(this.select.value));
    this.status = h('span', { class: 'h-status note', role: 'status' }, '');
    const csv = h('button', { type: 'button', class: 'h-csv', 'aria-label': `Download CSV of ${opts.what}`, onclick: () => this.download() }, 'Download CSV');
    this.box = h('div', { class: 'chart', role: 'img' });
    this.el = h(
      'div',
      { class: 'h-chart' },
      h('div', { class: 'h-bar' }, h('label', { for: selId }, 'Range'), this.select, this.status, csv),
      this.box,
    );
    this.describe();
  }

  describe() {
    this.box.setAttribute('aria-label', `chart of ${this.o.what}, ${RANGE_WORDS[this.range]}`);
    this.box.dataset.range = this.range;
    this.box.dataset.points = String(pointCount(this.data));
  }

  setRange(r) {
    if (!RANGE_SECONDS.has(r)) return;
    this.range = r;
    this.select.value = r;
    this.describe();
    this.load();
  }

  /** Asks the gateway for the range's history; live readings stay after it. */
  async load() {
    const c = this.client();
    if (!c || !c.hc || !c.gw) return;
    const seq = ++this.seq;
    const range = this.range;
    this.box.dataset.loading = range; // not announced: one line per chart would be noise
    let a;
    try {
      a = await c.hc.query({ topic: this.o.topic, field: this.o.field, range }, c.gw);
    } catch (e) {
      if (seq === this.seq) {
        delete this.box.dataset.loading;
        setText(this.status, `no history: ${e.message.replace(/^history: /, '')}`);
      }
      return;
    }
    if (seq !== this.seq || !this.el.isConnected) return;
    delete this.box.dataset.loading;
    // Nothing recorded (a topic outside history.topics, or one the user
    // may not read): the chart stays with what this page received.
    const none = a.t.length === 0;
    setText(this.status, none ? 'not recorded by the gateway' : '');
    const live = [];
    for (let i = 0; i < this.data[0].length; i++) if (this.data[1][i] !== null) live.push([this.data[0][i], this.data[1][i]]);
    const cols = mergeLive(toColumns(a), live);
    this.to = none ? null : a.to / 1000;
    this.data = cols;
    this.box.dataset.step = String(a.step);
    this.trim(Date.now() / 1000);
    this.destroyPlot(); // bands or not: a new series layout
    this.dirty = true;
    this.draw();
  }

  /** A live reading at x seconds. */
  push(x, v) {
    const d = this.data;
    const xs = d[0];
    if (xs.length && x <= xs[xs.length - 1]) return; // seen already (a retained one again)
    if (gapBefore(xs, x)) {
      // An outage: a gap in the line, not a straight line across it.
      xs.push(xs[xs.length - 1] + 0.001);
      for (let i = 1; i < d.length; i++) d[i].push(null);
    }
    xs.push(x);
    for (let i = 1; i < d.length; i++) d[i].push(v);
    this.trim(x);
    this.dirty = true;
  }

  trim(now) {
    const d = this.data;
    const cut = now - RANGE_SECONDS.get(this.range);
    let n = 0;
    while (n < d[0].length - 1 && (d[0].length - n > MAX_POINTS || d[0][n] < cut)) n++;
    if (n) for (const c of d) c.splice(0, n);
  }

  /** Draws if anything changed (called once a second and after updates). */
  draw() {
    if (!this.dirty) return;
    this.dirty = false;
    this.describe();
    if (this.plot) this.plot.setData(this.data);
    else this.makePlot();
  }

  xRange(u, min, max) {
    if (this.to === null) return timeRange(u, min, max); // live only: at least a minute
    const xs = u.data[0];
    const last = xs.length ? xs[xs.length - 1] : this.to;
    const hi = Math.max(this.to, last);
    return [hi - RANGE_SECONDS.get(this.range), hi];
  }

  makePlot() {
    const o = this.o;
    const agg = this.data.length > 2;
    const axis = { stroke: '#8a94a6', grid: { stroke: 'rgba(138,148,166,0.25)', width: 1 }, ticks: { show: false }, font: '10px system-ui, sans-serif' };
    const series = [
      {},
      { label: o.label, stroke: '#4fb3ff', width: 2, fill: agg ? undefined : 'rgba(79,179,255,0.12)', points: { show: (u, si, i0, i1) => countValues(u.data[1], i0, i1) < 3 } },
    ];
    if (agg) series.push({ label: 'min', stroke: 'rgba(79,179,255,0.35)', width: 1, points: { show: false } }, { label: 'max', stroke: 'rgba(79,179,255,0.35)', width: 1, points: { show: false } });
    const box = this.box;
    this.plot = new uPlot(
      {
        width: Math.max(200, Math.floor(box.clientWidth || 260)),
        height: o.height || 90,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true, range: (u, min, max) => this.xRange(u, min, max) }, y: { range: valueRange(uPlot.rangeNum) } },
        axes: [
          { ...axis, size: 20, space: 60, values: (u, splits, ai, space, incr) => splits.map((v) => timeLabel(v, incr)) },
          { ...axis, size: labelWidth, values: (u, splits) => splits.map((v) => o.yValue(v)) },
        ],
        series,
        bands: agg ? [{ series: [3, 2], fill: 'rgba(79,179,255,0.15)' }] : [],
        hooks: {
          // What the chart spans, for tests and tools: seconds.
          setScale: [
            (u, key) => {
              if (key !== 'x') return;
              box.dataset.xmin = String(u.scales.x.min);
              box.dataset.xmax = String(u.scales.x.max);
            },
          ],
        },
      },
      this.data,
      box,
    );
  }

  resize(w) {
    if (this.plot && w > 0 && Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height: this.o.height || 90 });
  }

  download() {
    const text = toCSV(this.data, this.o.label);
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    const a = h('a', { href: url, download: csvName(this.o.topic, this.o.field, this.range) });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  destroyPlot() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  destroy() {
    this.seq++;
    this.destroyPlot();
  }
}

/** Axis width from its widest label, so labels are never cut. */
export function labelWidth(u, values) {
  const w = values ? Math.max(...values.map((s) => String(s).length)) : 4;
  return Math.ceil(w * 7 + 14);
}
