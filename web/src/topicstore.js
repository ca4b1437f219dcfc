// The explorer's model: every topic received, its last messages, rates
// and retained state, and the rows to show (collapsed tree or filtered).
// Pure logic, no DOM: unit-tested in Node.

import { naturalCompare } from './natsort.js';
import { RateMeter } from './rate.js';

/** Messages kept per topic; the selected topic keeps more (for its chart). */
export const HISTORY = 10;
export const HISTORY_SELECTED = 120;

export class Node {
  constructor(name, topic, parent) {
    this.name = name;
    this.topic = topic;
    this.parent = parent;
    this.children = new Map();
    this.sorted = null; // cached natural order of children
    this.history = []; // newest last: {time, payload, qos, retain, props}
    this.retained = false; // the broker holds a retained message here
    this.epoch = 0; // the connection the last message came on (0: not counted)
    this.count = 0;
    this.topics = 0; // topics with a message at or below this node
    this.meter = new RateMeter();
    this.expanded = false;
    this.keep = HISTORY;
  }

  get msg() {
    return this.history.length ? this.history[this.history.length - 1] : null;
  }

  sortedChildren() {
    if (!this.sorted) this.sorted = [...this.children.values()].sort((a, b) => naturalCompare(a.name, b.name));
    return this.sorted;
  }
}

export class TopicStore {
  constructor() {
    this.root = new Node('', '', null);
    this.root.expanded = true;
    this.version = 0; // bumps when the tree's shape changes
  }

  get size() {
    return this.root.topics;
  }

  /**
   * Records a message; returns the node, or null when the message was an
   * empty retained payload, which deletes the topic (MQTT: it clears the
   * retained message) and so removes it from the tree.
   *
   * epoch numbers the connection the message came on. A retained message
   * equal to the topic's last one, first seen on a later connection, is
   * the broker sending it again on subscribe after a reconnect, not a new
   * message: it adds no entry, count or rate.
   */
  add(topic, payload, { retain = false, qos = 0, properties = null, epoch = 0 } = {}, now = Date.now()) {
    if (retain && payload.length === 0) {
      this.remove(topic);
      return null;
    }
    let node = this.root;
    const levels = topic.split('/');
    for (let i = 0; i < levels.length; i++) {
      let child = node.children.get(levels[i]);
      if (!child) {
        child = new Node(levels[i], i === levels.length - 1 ? topic : levels.slice(0, i + 1).join('/'), node);
        node.children.set(levels[i], child);
        node.sorted = null;
        this.version++;
      }
      node = child;
    }
    const last = node.msg;
    const again = retain && last && last.retain && epoch > node.epoch && node.epoch > 0 && sameBytes(last.payload, payload);
    node.epoch = epoch;
    if (again) return node;
    if (!node.history.length) {
      for (let n = node; n; n = n.parent) n.topics++;
      this.version++;
    }
    node.history.push({ time: now, payload, qos, retain: !!retain, props: properties });
    if (node.history.length > node.keep) node.history.splice(0, node.history.length - node.keep);
    if (retain) node.retained = true;
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

  /** Forgets a topic's messages; levels left without messages or children go. */
  remove(topic) {
    const node = this.get(topic);
    if (!node || !node.history.length) return;
    node.history = [];
    node.retained = false;
    for (let n = node; n; n = n.parent) n.topics--;
    this.version++;
    for (let n = node; n !== this.root && !n.history.length && n.children.size === 0; n = n.parent) {
      n.parent.children.delete(n.name);
      n.parent.sorted = null;
    }
  }

  /**
   * The rows to show, in order: {node, depth}. Without a filter, the tree
   * as expanded (top level always shown); with one (a predicate on topic
   * names), every match and the levels above it, all open. Also returns
   * matches, the number of topics the filter matched.
   */
  rows(test = null) {
    const rows = [];
    let matches = 0;
    if (!test) {
      const walk = (n, depth) => {
        for (const c of n.sortedChildren()) {
          rows.push({ node: c, depth });
          if (c.expanded && c.children.size) walk(c, depth + 1);
        }
      };
      walk(this.root, 0);
      return { rows, matches: this.size };
    }
    const walk = (n, depth) => {
      let any = false;
      for (const c of n.sortedChildren()) {
        const at = rows.length;
        rows.push({ node: c, depth });
        const self = c.history.length > 0 && test(c.topic);
        if (self) matches++;
        const below = c.children.size ? walk(c, depth + 1) : false;
        if (self || below) any = true;
        else rows.length = at; // neither it nor anything below matched
      }
      return any;
    };
    walk(this.root, 0);
    return { rows, matches };
  }
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
