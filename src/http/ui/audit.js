// The audit log: every mutation through the API (accepted or refused) and every change the
// jobs made, searched by principal, action, target and time (GET /v1/audit), newest first.

import { api, query } from './api.js';
import { h, clear, fmtTime } from './dom.js';

function targetLink(target) {
  const m = /^(hub|spoke|job):([0-9a-f-]{36})$/.exec(target || '');
  return m ? h('a', { href: `#/${m[1]}s/${m[2]}`, class: 'mono' }, target) : h('span', { class: 'mono' }, target || '');
}

/** A datetime-local value (the browser's local time) as RFC 3339 UTC. */
function rfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
}

export async function mount(root, _match, ctx) {
  const field = (name, label, attrs = {}) => h('label', {}, label, h('input', { name, value: ctx.params.get(name) || '', ...attrs }));
  const form = h('form', { class: 'filters', id: 'audit-filters' },
    field('principal', 'Principal', { placeholder: 'vending, system, anonymous' }),
    field('action', 'Action', { placeholder: 'spoke.enroll, job.retry' }),
    field('target', 'Target', { placeholder: 'spoke:<id>', size: 44 }),
    h('label', {}, 'Since', h('input', { name: 'since', type: 'datetime-local', step: 1 })),
    h('label', {}, 'Until', h('input', { name: 'until', type: 'datetime-local', step: 1 })),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  const body = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Older records');
  root.append(h('h1', {}, 'Audit log'), form,
    h('table', { id: 'audit' }, h('thead', {}, h('tr', {}, ['At', 'Principal', 'Action', 'Target', 'Outcome', 'Request', 'Detail'].map((t) => h('th', {}, t)))), body),
    h('div', { class: 'pager' }, more));
  let cursor = null;

  // form.elements, not form.action: a control named `action` must not be confused with the
  // form's own property.
  const val = (name) => form.elements.namedItem(name).value.trim();
  function filters() {
    return {
      principal: val('principal'),
      action: val('action'),
      target: val('target'),
      since: rfc3339(val('since')),
      until: rfc3339(val('until')),
    };
  }

  async function load(append) {
    const page = await api(`/v1/audit${query({ ...filters(), limit: 50, cursor: append ? cursor : null })}`);
    if (!append) clear(body);
    for (const a of page.items) {
      body.append(h('tr', { dataset: { auditId: a.id } },
        h('td', {}, fmtTime(a.at)), h('td', {}, a.principal), h('td', {}, a.action), h('td', {}, targetLink(a.target)),
        h('td', { class: a.outcome.startsWith('rejected') ? 'err' : '' }, a.outcome),
        h('td', { class: 'mono' }, a.request_id || ''),
        h('td', {}, a.detail ? h('details', {}, h('summary', {}, 'detail'), h('pre', {}, JSON.stringify(a.detail, null, 2))) : '')));
    }
    if (!body.children.length) body.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No audit records match.')));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const { principal, action, target } = filters();
    history.replaceState(null, '', `#/audit${query({ principal, action, target })}`);
    load(false).catch(ctx.showError);
  });
  more.addEventListener('click', () => load(true).catch(ctx.showError));
  await load(false);
  return null; // the audit log is read on demand: no live stream
}
