// A virtual list: a scroll box as tall as all rows, but only the rows on
// screen (and a few more) exist in the DOM. Rows have one fixed height.

import { h } from './dom.js';

export class VirtualList {
  /**
   * render(el, row, index) fills a row element for row; it is
   * called for the rows on screen only.
   */
  constructor(box, rowHeight, render, label) {
    this.box = box;
    this.rowHeight = rowHeight;
    this.render = render;
    this.rows = [];
    this.live = new Map(); // row index -> element
    this.inner = h('div', { class: 'vl-inner', role: 'list', 'aria-label': label });
    box.append(this.inner);
    this.queued = false;
    box.addEventListener('scroll', () => this.queue(), { passive: true });
    if (typeof ResizeObserver !== 'undefined') new ResizeObserver(() => this.queue()).observe(box);
  }

  setRows(rows) {
    this.rows = rows;
    this.inner.style.height = `${rows.length * this.rowHeight}px`;
    this.draw();
  }

  queue() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      this.draw();
    });
  }

  /**
   * Redraws the rows on screen (after their data changed). A row keeps its
   * element while it stays on screen, so scrolling does not move focus or
   * a pointer target to another topic; elements that scroll off are reused.
   */
  draw() {
    const rh = this.rowHeight;
    const height = this.box.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.box.scrollTop / rh) - 4);
    const last = Math.min(this.rows.length, Math.ceil((this.box.scrollTop + height) / rh) + 4);
    const live = new Map();
    const free = [];
    for (const [idx, el] of this.live) {
      if (idx >= first && idx < last) live.set(idx, el);
      else free.push(el);
    }
    let prev = null;
    for (let idx = first; idx < last; idx++) {
      let el = live.get(idx);
      if (!el) {
        // A reused or new element, placed in document order (what a
        // screen reader reads) after the row above it.
        el = free.pop() || h('div', { class: 'vl-row', role: 'listitem' });
        this.inner.insertBefore(el, prev ? prev.nextSibling : this.inner.firstChild);
        el.style.transform = `translateY(${idx * rh}px)`;
        live.set(idx, el);
      }
      el._index = idx;
      this.render(el, this.rows[idx], idx);
      prev = el;
    }
    for (const el of free) el.remove();
    this.live = live;
  }

  /** Scrolls row index on screen and focuses its element matching selector. */
  focus(index, selector) {
    this.reveal(index);
    this.draw();
    const el = this.live.get(index);
    const target = el && el.querySelector(selector);
    if (target) target.focus();
  }

  /** Scrolls so row index is on screen. */
  reveal(index) {
    const top = index * this.rowHeight;
    if (top < this.box.scrollTop) this.box.scrollTop = top;
    else if (top + this.rowHeight > this.box.scrollTop + this.box.clientHeight) this.box.scrollTop = top + this.rowHeight - this.box.clientHeight;
  }
}
