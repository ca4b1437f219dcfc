// A tiny element builder. Text always goes in as text nodes, never as HTML:
// payloads are untrusted.

/** h('div', {class: 'x', 'aria-label': 'y', onclick: fn}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Sets textContent only when it changed (keeps screen readers quiet). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** A DOM id safe for any topic-derived name. */
export function domId(prefix, s) {
  return prefix + '-' + Array.from(new TextEncoder().encode(s), (b) => b.toString(16).padStart(2, '0')).join('');
}
