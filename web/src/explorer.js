// The topic explorer: the live tree of every topic received, and the
// publish form. Rendering is incremental and batched: messages mark nodes
// dirty, flush() updates only those.

import { h, setText } from './dom.js';
import { TopicTree, formatPayload } from './topics.js';

export class Explorer {
  constructor(container, countEl) {
    this.container = container;
    this.countEl = countEl;
    this.tree = new TopicTree();
    this.dirty = new Set();
    this.rootList = h('ul', { class: 'tree', 'aria-label': 'topics' });
    container.append(this.rootList);
    this.tree.root.ui = { list: this.rootList };
  }

  add(topic, payload, packet, now = Date.now()) {
    const node = this.tree.add(topic, payload, { retain: packet && packet.retain, qos: packet ? packet.qos : 0 }, now);
    this.dirty.add(node);
  }

  ensure(node) {
    if (node.ui) return node.ui;
    const parentUI = this.ensure(node.parent);
    const name = h('span', { class: 't-name' }, node.name === '' ? '(empty)' : node.name);
    const meta = h('span', { class: 't-meta' });
    const summary = h('summary', {}, name, meta);
    const payload = h('pre', { class: 't-payload', 'aria-label': `payload of ${node.topic}` });
    payload.hidden = true;
    const list = h('ul', { class: 'tree' });
    const details = h('details', {}, summary, payload, list);
    details.open = !node.topic.startsWith('$SYS');
    const li = h('li', { class: 't-node leaf', 'data-topic': node.topic }, details);
    node.ui = { li, details, meta, payload, list };
    // Insert in sorted position among siblings already shown.
    const sibs = node.parent.sortedChildren();
    const after = sibs.slice(sibs.indexOf(node) + 1).find((s) => s.ui);
    parentUI.list.insertBefore(li, after ? after.ui.li : null);
    if (node.parent.ui.li) node.parent.ui.li.classList.remove('leaf');
    return node.ui;
  }

  /** Updates the DOM for nodes that changed; call on a timer. */
  flush(now = Date.now()) {
    for (const node of this.dirty) {
      const ui = this.ensure(node);
      const m = node.msg;
      const p = formatPayload(m.payload);
      ui.payload.hidden = false;
      ui.payload.dataset.kind = p.kind;
      setText(ui.payload, p.kind === 'empty' ? '(empty payload)' : p.text);
      this.meta(node, now);
    }
    this.dirty.clear();
    setText(this.countEl, `${this.tree.size} topics`);
  }

  /** Refreshes the rates of every shown topic (once every few seconds). */
  refreshRates(now = Date.now()) {
    const walk = (n) => {
      for (const c of n.children.values()) {
        if (c.msg && c.ui) this.meta(c, now);
        walk(c);
      }
    };
    walk(this.tree.root);
  }

  meta(node, now) {
    const m = node.msg;
    const parts = [`QoS ${m.qos}`];
    if (m.retain) parts.push('retained');
    const r = node.meter.rate(now);
    parts.push(r >= 0.1 ? `${r.toFixed(1)}/s` : `${(r * 60).toFixed(1)}/min`);
    setText(node.ui.meta, parts.join(' · '));
  }

  clear() {
    this.rootList.replaceChildren();
    this.tree = new TopicTree();
    this.tree.root.ui = { list: this.rootList };
    this.dirty.clear();
    setText(this.countEl, '0 topics');
  }
}
