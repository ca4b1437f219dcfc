// The topic explorer: a virtual list over the topic tree (collapsed below
// the first level, natural order), a filter box with its match count, and
// the detail pane of the selected topic. Messages only update the model;
// flush() (on a timer) redraws the rows on screen and the pane.

import { h, setText } from './dom.js';
import { TopicStore, HISTORY, HISTORY_SELECTED } from './topicstore.js';
import { VirtualList } from './vlist.js';
import { parseFilter } from './filter.js';
import { oneLine } from './preview.js';
import { formatRate } from './rate.js';
import { DetailPane } from './detail.js';
import { fixed } from './format.js';

export const ROW_HEIGHT = 30;

export class Explorer {
  /** els: {list, count, filter, filterNote, detail}; actions: see DetailPane. */
  constructor(els, actions) {
    this.els = els;
    this.store = new TopicStore();
    this.filter = parseFilter('');
    this.shown = -1; // store version (or -1: filter changed) the rows were built from
    this.dirty = false;
    this.selected = null;
    this.list = new VirtualList(els.list, ROW_HEIGHT, (el, row) => this.renderRow(el, row), 'topics');
    this.pane = new DetailPane(els.detail, { ...actions, onClose: () => this.select(null) });
    els.list.addEventListener('keydown', (e) => this.onKey(e));
    let timer = null;
    els.filter.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.setFilter(els.filter.value), 120);
    });
    this.now = Date.now();
  }

  setFilter(text) {
    this.filter = parseFilter(text);
    this.shown = -1;
    this.flush();
  }

  /** Records a message; epoch numbers the connection it came on. */
  add(topic, payload, packet, epoch = 0, now = Date.now()) {
    const props = packet && packet.properties && Object.keys(packet.properties).length ? packet.properties : null;
    const node = this.store.add(topic, payload, { retain: packet && packet.retain, qos: packet ? packet.qos : 0, properties: props, epoch }, now);
    this.dirty = true;
    if (this.selected && (node === this.selected || (!node && !this.store.get(this.selected.topic)))) this.paneDirty = true;
  }

  /** Redraws what changed; call on a timer. */
  flush(now = Date.now()) {
    this.now = now;
    if (this.shown !== this.store.version) {
      const { rows, matches } = this.store.rows(this.filter.kind === 'all' ? null : this.filter.test);
      this.rows = rows;
      this.list.setRows(rows);
      this.shown = this.store.version;
      this.count(matches);
    } else if (this.dirty) {
      this.list.draw();
    }
    this.dirty = false;
    // The pane redraws at most once a second: a busy topic (hundreds of
    // messages a second) must not keep the page busy laying it out.
    if (this.selected && this.paneDirty && !this.store.get(this.selected.topic)) {
      this.paneDirty = false;
      this.select(null); // the topic was deleted
    } else if (this.paneDirty && now - (this.paneAt || 0) >= 1000) {
      this.paneDirty = false;
      this.paneAt = now;
      this.pane.update(now);
    }
  }

  count(matches) {
    const total = this.store.size;
    setText(this.els.count, `${fixed(total, 0)} topic${total === 1 ? '' : 's'}`);
    let note = '';
    if (this.filter.kind === 'invalid') note = `not a valid filter: ${this.filter.error}`;
    else if (this.filter.kind !== 'all') note = `${fixed(matches, 0)} of ${fixed(total, 0)} topics match`;
    setText(this.els.filterNote, note);
  }

  /** Refreshes rates and ages of the rows on screen. */
  refreshRates(now = Date.now()) {
    this.now = now;
    this.list.draw();
  }

  renderRow(el, row) {
    let p = el._parts;
    if (!p) {
      const tog = h('button', { type: 'button', class: 't-toggle' });
      const name = h('button', { type: 'button', class: 't-name' });
      const count = h('span', { class: 't-count' });
      const value = h('span', { class: 't-value' });
      const ret = h('span', { class: 't-retained', title: 'the broker keeps this message for new subscribers' }, 'retained');
      const meta = h('span', { class: 't-meta' });
      el.append(tog, name, count, value, ret, meta);
      tog.addEventListener('click', () => this.toggle(el._node));
      name.addEventListener('click', () => (el._node.history.length ? this.select(el._node) : this.toggle(el._node)));
      p = el._parts = { tog, name, count, value, ret, meta };
    }
    const n = row.node;
    el._node = n;
    el.dataset.topic = n.topic;
    el.style.paddingLeft = `${row.depth * 16 + 4}px`;
    const kids = n.children.size > 0;
    const open = this.filter.kind !== 'all' || n.expanded;
    p.tog.style.visibility = kids && this.filter.kind === 'all' ? 'visible' : 'hidden';
    setText(p.tog, open ? '▾' : '▸');
    p.tog.setAttribute('aria-expanded', String(open));
    p.tog.setAttribute('aria-label', `${open ? 'collapse' : 'expand'} ${n.topic}`);
    setText(p.name, n.name === '' ? '(empty)' : n.name);
    p.name.title = n.topic;
    if (this.selected === n) p.name.setAttribute('aria-current', 'true');
    else p.name.removeAttribute('aria-current');
    el.classList.toggle('selected', this.selected === n);
    setText(p.count, kids && !open ? `${fixed(n.topics - (n.history.length ? 1 : 0), 0)} topics` : '');
    const m = n.msg;
    setText(p.value, m ? oneLine(m) : '');
    p.ret.hidden = !n.retained;
    setText(p.meta, m ? formatRate(n.meter.rate(this.now)) : '');
  }

  /**
   * Moves through the tree from the keyboard, as in a file tree: Up and
   * Down go to the row above and below, Home and End to the first and
   * last; Right opens a closed level or goes to its first child, Left
   * closes an open level or goes to the parent. Enter and Space are the
   * buttons' own.
   */
  onKey(e) {
    const rowEl = e.target.closest && e.target.closest('.vl-row');
    if (!rowEl || rowEl._index === undefined || e.altKey || e.ctrlKey || e.metaKey) return;
    const i = rowEl._index;
    const n = rowEl._node;
    const last = this.rows.length - 1;
    const folds = n.children.size > 0 && this.filter.kind === 'all';
    let to;
    switch (e.key) {
      case 'ArrowDown': to = Math.min(i + 1, last); break;
      case 'ArrowUp': to = Math.max(i - 1, 0); break;
      case 'Home': to = 0; break;
      case 'End': to = last; break;
      case 'ArrowRight':
        if (!n.children.size) return;
        if (folds && !n.expanded) this.toggle(n);
        else i < last && (to = i + 1);
        break;
      case 'ArrowLeft':
        if (folds && n.expanded) this.toggle(n);
        else if (n.parent !== this.store.root) to = this.rows.findIndex((r) => r.node === n.parent);
        break;
      default:
        return;
    }
    e.preventDefault();
    this.list.focus(to ?? i, '.t-name');
  }

  toggle(n) {
    if (!n.children.size || this.filter.kind !== 'all') return;
    n.expanded = !n.expanded;
    this.shown = -1;
    this.flush();
  }

  /** Selects a topic (a node, or null to close the pane). */
  select(n) {
    if (this.selected) this.selected.keep = HISTORY;
    this.selected = n;
    if (n) n.keep = HISTORY_SELECTED;
    this.paneAt = Date.now();
    this.pane.show(n, this.now);
    this.list.draw();
  }

  /** Selects a topic by name, opening the levels above it. */
  open(topic) {
    const n = this.store.get(topic);
    if (!n) return false;
    for (let p = n.parent; p; p = p.parent) p.expanded = true;
    this.shown = -1;
    this.flush();
    const i = this.rows.findIndex((r) => r.node === n);
    if (i >= 0) this.list.reveal(i);
    this.select(n);
    return true;
  }

  clear() {
    this.select(null);
    this.store = new TopicStore();
    this.shown = -1;
    this.flush();
  }
}
