// One switch per <gw>/actuators/<name>/state. The switch shows the state the
// actuator reports; clicking publishes "on"/"off" to .../set and waits for
// the report.

import { h, setText, domId } from './dom.js';
import { parseActuatorState } from './model.js';
import { mayWrite } from './topics.js';

export class ActuatorPanel {
  /** publish(topic, payload) returns a Promise; it rejects with a reason. */
  constructor(container, empty, publish) {
    this.container = container;
    this.empty = empty;
    this.publish = publish;
    this.items = new Map();
    this.write = null;
    this.online = false;
  }

  item(gw, name) {
    const id = `${gw}/${name}`;
    let a = this.items.get(id);
    if (a) return a;
    const setTopic = `${gw}/actuators/${name}/set`;
    const labelId = domId('act-label', id);
    const sw = h(
      'button',
      { type: 'button', role: 'switch', class: 'switch', 'aria-checked': 'false', 'aria-labelledby': labelId, 'data-actuator': name },
      h('span', { class: 'knob', 'aria-hidden': 'true' }),
    );
    const stateText = h('span', { class: 'act-state' }, 'unknown');
    const note = h('span', { class: 'act-note', role: 'status' }, '');
    const why = h('span', { class: 'act-why why', id: domId('act-why', id) }, '');
    sw.setAttribute('aria-describedby', why.id);
    const el = h(
      'div',
      { class: 'actuator', id: domId('actuator', id) },
      h('span', { class: 'act-name', id: labelId }, name),
      h('span', { class: 'tile-gw' }, gw),
      stateText,
      sw,
      note,
      why,
    );
    a = { id, gw, name, el, sw, stateText, note, why, setTopic, state: null, pending: null };
    sw.addEventListener('click', () => this.toggle(a));
    this.items.set(id, a);
    const sorted = [...this.items.values()].sort((x, y) => (x.id < y.id ? -1 : 1));
    const next = sorted[sorted.indexOf(a) + 1];
    this.container.insertBefore(el, next ? next.el : null);
    this.empty.hidden = true;
    this.refresh(a);
    return a;
  }

  state(gw, name, text) {
    const a = this.item(gw, name);
    a.state = parseActuatorState(text);
    if (a.pending !== null && a.pending === a.state) a.pending = null;
    setText(a.note, a.pending === null ? '' : a.note.textContent);
    this.refresh(a);
  }

  async toggle(a) {
    if (a.sw.disabled) return;
    const want = !(a.state === true);
    a.pending = want;
    setText(a.note, `asked to switch ${want ? 'on' : 'off'}…`);
    this.refresh(a);
    try {
      await this.publish(a.setTopic, want ? 'on' : 'off');
    } catch (e) {
      a.pending = null;
      setText(a.note, `not sent: ${e.message || e}`);
      this.refresh(a);
    }
  }

  /** Applies the user's write filters (null: unknown), role and connection state. */
  setAccess(write, online, role = '') {
    this.write = write;
    this.online = online;
    this.role = role;
    for (const a of this.items.values()) this.refresh(a);
  }

  refresh(a) {
    a.sw.setAttribute('aria-checked', a.state === true ? 'true' : 'false');
    a.sw.dataset.state = a.state === null ? 'unknown' : a.state ? 'on' : 'off';
    const st = a.state === null ? 'unknown' : a.state ? 'on' : 'off';
    setText(a.stateText, this.online || a.state === null ? st : `${st} (last known)`);
    a.el.classList.toggle('stale', !this.online);
    const allowed = mayWrite(this.write, a.setTopic);
    a.sw.disabled = !allowed || !this.online;
    a.sw.setAttribute('aria-busy', a.pending !== null ? 'true' : 'false');
    // Said in words under the switch: phones have no hover tooltips.
    let why = '';
    if (!allowed) why = `Your role (${this.role || 'without a role'}) may not switch this: it may not publish to ${a.setTopic}.`;
    else if (!this.online) why = 'Not connected: the state shown may be out of date.';
    setText(a.why, why);
  }

  clear() {
    for (const a of this.items.values()) a.el.remove();
    this.items.clear();
    this.empty.hidden = false;
  }
}
