// The detail pane of the selected topic: its last messages (time, size,
// QoS, retained), the payload (JSON as a collapsible tree, whole or cut
// at 4 KB), the change from the previous message, a chart of a numeric
// field (from the gateway's history, histchart.js), MQTT 5 properties, and
// actions (copy, fill the publish form, delete the retained message).

import { h, setText } from './dom.js';
import { decode, diff, numbers, numberAt } from './preview.js';
import { formatBytes, clockTime, ago, compact } from './format.js';
import { formatRate } from './rate.js';
import { HistoryChart } from './histchart.js';

export { labelWidth } from './histchart.js';

export const SHOW_BYTES = 4096;

/**
 * actions: {fill(topic, text, qos, retain), remove(topic) -> Promise,
 * mayDelete(topic) -> bool, onClose(), history() -> {hc, gw} or null}
 */
export class DetailPane {
  constructor(el, actions) {
    this.el = el;
    this.actions = actions;
    this.node = null;
    this.open = new Set(['']); // JSON paths shown open
    this.full = false;
    this.field = null;
    this.chart = null;
    this.range = undefined; // the range last chosen, kept across topics
    el.hidden = true;
  }

  show(node, now = Date.now()) {
    if (node !== this.node) {
      this.full = false;
      this.field = null;
      this.open = new Set(['']);
    }
    this.node = node;
    this.actionsKey = null;
    this.shownMsg = null;
    this.destroyPlot();
    this.el.hidden = !node;
    if (!node) return this.el.replaceChildren();
    this.build();
    this.update(now);
  }

  destroyPlot() {
    if (this.chart) {
      this.range = this.chart.range;
      this.chart.destroy();
    }
    this.chart = null;
  }

  /** The session changed (a HistoryClient, or null offline): the chart asks again. */
  historyChanged() {
    if (this.chart) this.chart.load();
  }

  build() {
    const n = this.node;
    const p = (this.parts = {
      meta: h('p', { class: 'd-meta' }),
      actions: h('div', { class: 'd-actions' }),
      note: h('p', { class: 'note', role: 'status' }),
      payload: h('div', { class: 'd-payload' }),
      diff: h('ul', { class: 'd-diff', 'aria-label': 'change from the previous message' }),
      chartBox: h('div', { class: 'd-chart' }),
      props: h('dl', { class: 'd-props' }),
      history: h('tbody'),
    });
    const close = h('button', { type: 'button', class: 'd-close', onclick: () => this.actions.onClose() }, 'Close');
    this.el.replaceChildren(
      h('div', { class: 'd-head' }, h('h3', { id: 'detail-title', class: 'd-topic' }, n.topic), close),
      p.meta,
      p.actions,
      p.note,
      h('h4', {}, 'Payload'),
      p.payload,
      h('h4', {}, 'Change from the previous message'),
      p.diff,
      p.chartBox,
      p.props,
      h('h4', {}, 'Last messages'),
      h(
        'div',
        { class: 'd-table' },
        h('table', {}, h('thead', {}, h('tr', {}, ...['Time', 'Size', 'QoS', 'Retained', 'Payload'].map((c) => h('th', { scope: 'col' }, c)))), p.history),
      ),
    );
  }

  /** Redraws for the node's current messages. */
  update(now = Date.now()) {
    const n = this.node;
    if (!n || !n.msg) return;
    const p = this.parts;
    const m = n.msg;
    const rate = formatRate(n.meter.rate(now));
    setText(
      p.meta,
      [`last received ${clockTime(m.time)} (${ago(m.time, now)})`, formatBytes(m.payload.length), `QoS ${m.qos}`, n.retained ? 'retained' : 'not retained', rate, `${n.count} message${n.count === 1 ? '' : 's'} seen`]
        .filter(Boolean)
        .join(' · '),
    );
    const key = `${n.retained}/${m.payload.length > SHOW_BYTES}/${m.qos}`;
    if (key !== this.actionsKey) {
      this.actionsKey = key;
      this.renderActions(m);
    }
    if (m === this.shownMsg) return;
    this.shownMsg = m;
    this.renderPayload(m);
    const prev = n.history.length > 1 ? n.history[n.history.length - 2] : null;
    p.diff.replaceChildren(
      ...(prev ? diff(prev, m).map((d) => h('li', { class: `op-${d.op === '+' ? 'add' : d.op === '-' ? 'del' : 'chg'}` }, `${d.op} ${d.text}`)) : [h('li', { class: 'note' }, 'no previous message seen')]),
    );
    if (prev && p.diff.children.length === 0) p.diff.append(h('li', { class: 'note' }, 'same as the previous message'));
    this.renderChart();
    this.renderProps(m.props);
    p.history.replaceChildren(
      ...n.history
        .slice()
        .reverse()
        .slice(0, 20)
        .map((x) => {
          const d = decode(x);
          const text = d.kind === 'empty' ? '(empty)' : d.kind === 'binary' ? '(binary)' : d.text.slice(0, 80);
          return h('tr', {}, h('td', {}, clockTime(x.time, true)), h('td', {}, formatBytes(x.payload.length)), h('td', {}, String(x.qos)), h('td', {}, x.retain ? 'yes' : 'no'), h('td', { class: 'd-cell' }, text));
        }),
    );
  }

  renderActions(m) {
    const n = this.node;
    const p = this.parts;
    const fill = () => {
      const last = n.msg;
      const d = decode(last);
      this.actions.fill(n.topic, d.kind === 'binary' ? '' : d.text, last.qos, n.retained);
    };
    const btns = [
      h('button', { type: 'button', onclick: () => this.copy() }, 'Copy payload'),
      h('button', { type: 'button', onclick: fill }, 'Fill the publish form'),
    ];
    if (m.payload.length > SHOW_BYTES) btns.push(h('button', { type: 'button', onclick: () => this.download() }, 'Download'));
    let why = '';
    if (n.retained) {
      if (this.actions.mayDelete(n.topic)) btns.push(h('button', { type: 'button', class: 'danger', onclick: () => this.remove() }, 'Delete retained message'));
      else why = 'Your role may not publish to this topic, so it cannot delete its retained message.';
    }
    p.actions.replaceChildren(...btns, why ? h('p', { class: 'why' }, why) : '');
  }

  renderPayload(m) {
    const p = this.parts;
    const d = decode(m);
    const big = m.payload.length > SHOW_BYTES;
    let body;
    if (d.kind === 'empty') body = h('p', { class: 'note' }, '(empty payload)');
    else if (d.kind === 'json' && (!big || this.full)) body = h('div', { class: 'jtree' }, this.jsonNode('', d.json, ''));
    else {
      const text = big && !this.full ? d.text.slice(0, SHOW_BYTES) + ' …' : d.text;
      body = h('pre', { class: 'd-pre', tabindex: '0', 'aria-label': `payload of ${this.node.topic}` }, text);
    }
    const parts = [body];
    if (big) {
      parts.push(
        h('button', { type: 'button', onclick: () => { this.full = !this.full; this.renderPayload(this.node.msg); } }, this.full ? 'Show the first 4 KB only' : `Show all ${formatBytes(m.payload.length)}`),
      );
    }
    p.payload.replaceChildren(...parts);
  }

  /** A JSON value as nested <details>, open where the user left them open. */
  jsonNode(key, v, path) {
    const label = key === '' ? '' : `${key}: `;
    if (v && typeof v === 'object') {
      const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
      const shown = entries.slice(0, 500);
      const details = h(
        'details',
        {},
        h('summary', {}, label, h('span', { class: 'j-sum' }, Array.isArray(v) ? `[${entries.length} items]` : `{${entries.length} keys}`)),
        ...shown.map(([k, x]) => this.jsonNode(k, x, `${path}/${k}`)),
        entries.length > shown.length ? h('div', { class: 'note' }, `… ${entries.length - shown.length} more`) : '',
      );
      details.open = this.open.has(path);
      details.addEventListener('toggle', () => (details.open ? this.open.add(path) : this.open.delete(path)));
      return details;
    }
    const type = v === null ? 'null' : typeof v;
    return h('div', { class: 'j-leaf' }, label, h('span', { class: `j-${type}` }, JSON.stringify(v)));
  }

  renderChart() {
    const p = this.parts;
    const n = this.node;
    const fields = numbers(n.msg).map(([path]) => path);
    if (!fields.length) {
      this.destroyPlot();
      p.chartBox.replaceChildren();
      this.field = null;
      return;
    }
    if (this.field === null || !fields.includes(this.field)) {
      this.field = fields[0];
      this.destroyPlot();
    }
    if (this.chart) {
      const m = n.msg;
      const v = numberAt(m, this.field);
      if (v !== null) this.chart.push(m.time / 1000, v);
      this.chart.draw();
      return;
    }
    const sel = h('select', { id: 'detail-field' }, ...fields.map((f) => h('option', { value: f }, f || '(the value)')));
    sel.value = this.field;
    sel.addEventListener('change', () => {
      this.field = sel.value;
      this.destroyPlot();
      this.renderChart();
    });
    const live = [];
    for (const m of n.history) {
      const v = numberAt(m, this.field);
      if (v !== null) live.push([m.time / 1000, v]);
    }
    const what = this.field || 'the value';
    this.chart = new HistoryChart(
      { topic: n.topic, field: this.field, label: what, what, height: 120, yValue: compact, idBase: 'detail', live, range: this.range },
      () => this.actions.history && this.actions.history(),
    );
    p.chartBox.replaceChildren(h('h4', {}, h('label', { for: 'detail-field' }, 'Chart of ')), sel, this.chart.el);
    this.chart.draw();
    this.chart.load();
  }

  renderProps(props) {
    const p = this.parts;
    if (!props) return p.props.replaceChildren();
    const rows = [];
    const add = (k, v) => rows.push(h('dt', {}, k), h('dd', {}, v));
    if (props.contentType) add('Content type', props.contentType);
    if (props.responseTopic) add('Response topic', props.responseTopic);
    if (props.correlationData) add('Correlation data', bytesText(props.correlationData));
    if (props.payloadFormatIndicator !== undefined) add('Payload format', props.payloadFormatIndicator ? 'UTF-8 text' : 'bytes');
    if (props.messageExpiryInterval !== undefined) add('Expires after', `${props.messageExpiryInterval} s`);
    for (const [k, v] of Object.entries(props.userProperties || {})) add(`User property ${k}`, Array.isArray(v) ? v.join(', ') : String(v));
    p.props.replaceChildren(...(rows.length ? [h('dt', { class: 'd-props-title' }, 'MQTT 5 properties'), h('dd', {}, ''), ...rows] : []));
  }

  async copy() {
    const d = decode(this.node.msg);
    try {
      await navigator.clipboard.writeText(d.text);
      setText(this.parts.note, 'payload copied');
    } catch {
      setText(this.parts.note, 'the browser did not allow copying; select the payload text instead');
    }
  }

  download() {
    const n = this.node;
    const url = URL.createObjectURL(new Blob([n.msg.payload]));
    const a = h('a', { href: url, download: `${n.topic.replace(/[^\w.-]+/g, '_')}.bin` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async remove() {
    const topic = this.node.topic;
    try {
      await this.actions.remove(topic);
      setText(this.parts.note, `deleted the retained message of ${topic}`);
    } catch (e) {
      setText(this.parts.note, `not deleted: ${e.message}`);
    }
  }
}

function bytesText(b) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }
}
