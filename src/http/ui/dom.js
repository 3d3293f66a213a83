// Small DOM helpers: element building without innerHTML (nothing from the API is ever parsed
// as HTML), formatting, and the status badges every view shares.

/** h('td', {class: 'x', dataset: {id}}, child, 'text', ...) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function badge(status) {
  return h('span', { class: `badge st-${status}`, dataset: { status } }, status);
}

export function link(href, text, cls) {
  return h('a', { href, class: cls }, text);
}

export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function short(id) {
  return id ? String(id).slice(0, 8) : '';
}

/** Key/value list: rows of [label, value]; values may be nodes. */
export function kv(rows) {
  return h('dl', { class: 'kv' }, rows.filter(Boolean).map(([k, v]) => [
    h('dt', {}, k), h('dd', {}, v === undefined || v === null || v === '' ? h('span', { class: 'muted' }, '—') : v),
  ]));
}

export const SPOKE_STATUSES = ['pending', 'attaching', 'attached', 'failed', 'detaching', 'detached'];
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
export const JOB_KINDS = ['provision_hub', 'update_hub_services', 'delete_hub', 'attach_spoke',
  'detach_spoke', 'reconcile_hub', 'reconcile_spoke'];

/** Chips of spoke counts by status (zeros left out). */
export function countChips(counts) {
  const chips = SPOKE_STATUSES.filter((s) => counts && counts[s] > 0).map((s) =>
    h('span', { class: 'chip', dataset: { count: s } },
      h('i', { class: `dot l-${s}` }), `${s} `, h('b', {}, String(counts[s]))));
  return h('span', { class: 'chips' }, chips.length ? chips : h('span', { class: 'muted' }, 'no spokes'));
}

/** Capacity rows: dimension, bar, used / limit. */
export function capacity(list) {
  if (!list || !list.length) return h('span', { class: 'muted' }, '—');
  return h('div', { class: 'cap' }, list.map((c) => {
    const pct = c.limit > 0 ? Math.min(100, (100 * c.used) / c.limit) : 0;
    const fill = h('span');
    fill.style.width = `${pct.toFixed(1)}%`;
    return [
      h('span', { title: c.detail }, c.dimension),
      h('div', { class: `bar${pct >= 100 ? ' full' : pct >= 80 ? ' warn' : ''}`, title: c.detail }, fill),
      h('span', { class: 'mono', dataset: { capacity: c.dimension } }, `${c.used} / ${c.limit}`),
    ];
  }));
}

/** Calls fn at most once per `ms`, with the latest arguments, trailing. */
export function throttle(fn, ms) {
  let timer = null;
  let args = null;
  return (...a) => {
    args = a;
    if (timer) return;
    timer = setTimeout(() => { timer = null; fn(...args); }, ms);
  };
}

export function problemText(err) {
  const p = err && err.problem;
  if (p) {
    const fields = (p.errors || []).map((e) => `${e.field}: ${e.message}`).join('; ');
    return `${p.status} ${p.title}: ${p.detail}${fields ? ` (${fields})` : ''}`;
  }
  return String((err && err.message) || err);
}
