// A virtual list: a scroll box as tall as all rows, but only the rows on
// screen (and a few more) exist in the DOM. Rows have one fixed height.

import { h } from './dom.js';

export class VirtualList {
  /**
   * render(el, row, index) fills a pooled row element for row; it is
   * called for the rows on screen only.
   */
  constructor(box, rowHeight, render, label) {
    this.box = box;
    this.rowHeight = rowHeight;
    this.render = render;
    this.rows = [];
    this.pool = [];
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

  /** Redraws the rows on screen (after their data changed). */
  draw() {
    const rh = this.rowHeight;
    const height = this.box.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.box.scrollTop / rh) - 4);
    const last = Math.min(this.rows.length, Math.ceil((this.box.scrollTop + height) / rh) + 4);
    const need = Math.max(0, last - first);
    while (this.pool.length < need) {
      const el = h('div', { class: 'vl-row', role: 'listitem' });
      this.pool.push(el);
      this.inner.append(el);
    }
    while (this.pool.length > need) this.pool.pop().remove();
    for (let i = 0; i < need; i++) {
      const el = this.pool[i];
      const idx = first + i;
      el.style.transform = `translateY(${idx * rh}px)`;
      this.render(el, this.rows[idx], idx);
    }
  }

  /** Scrolls so row index is on screen. */
  reveal(index) {
    const top = index * this.rowHeight;
    if (top < this.box.scrollTop) this.box.scrollTop = top;
    else if (top + this.rowHeight > this.box.scrollTop + this.box.clientHeight) this.box.scrollTop = top + this.rowHeight - this.box.clientHeight;
  }
}
