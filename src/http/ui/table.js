// The spokes table: filters (status, account, labels) and cursor pagination over
// GET /v1/spokes, so a page costs the same at 5,000 spokes as at 5. One listener on the body
// opens a spoke; live updates replace single rows.

import { api, query, can } from './api.js';
import { h, clear, badge, short, SPOKE_STATUSES } from './dom.js';

export function spokeTable({ hubId, ctx, pageSize = 50, onFirstDraw }) {
  const status = h('select', { name: 'status' }, h('option', { value: '' }, 'any'),
    SPOKE_STATUSES.map((s) => h('option', { value: s }, s)));
  const account = h('input', { name: 'account_id', placeholder: '123456789012', size: 14 });
  const labels = h('input', { name: 'label', placeholder: 'team=payments env=prod', size: 24 });
  const info = h('span', { class: 'muted' });
  const prev = h('button', { type: 'button', disabled: true }, '‹ Previous');
  const next = h('button', { type: 'button', disabled: true }, 'Next ›');
  const body = h('tbody');
  const columns = ['Account', 'VPC', 'CIDRs', 'Labels', 'Status', 'Last error'];
  if (!hubId) columns.unshift('Hub');
  const form = h('form', { class: 'filters', id: 'spoke-filters' },
    h('label', {}, 'Status', status), h('label', {}, 'Account', account),
    h('label', {}, 'Labels (key=value …)', labels),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  const el = h('section', { class: 'spoke-table' },
    form,
    h('table', { id: 'spokes' }, h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))), body),
    h('div', { class: 'pager' }, prev, next, info));

  const rows = new Map(); // spoke id -> tr
  let cursors = [null]; // cursor of each page seen so far
  let pageIndex = 0;
  let nextCursor = null;
  let filters = {};
  let drawnOnce = false;

  function row(s) {
    const cells = [
      h('td', { class: 'mono' }, s.account_id),
      h('td', { class: 'mono' }, s.vpc_id),
      h('td', { class: 'mono' }, (s.cidrs || []).join(' ')),
      h('td', {}, Object.entries(s.labels || {}).map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`))),
      h('td', { dataset: { col: 'status' } }, badge(s.status),
        s.job && s.job.status !== 'succeeded' && s.job.current_step
          ? h('div', { class: 'muted' }, `${s.job.current_step} (${s.job.steps_done}/${s.job.steps_total})`) : null),
      h('td', { class: 'err', dataset: { col: 'error' } }, s.last_error || ''),
    ];
    if (!hubId) cells.unshift(h('td', { class: 'mono' }, can('read') ? h('a', { href: `#/hubs/${s.hub_id}` }, short(s.hub_id)) : short(s.hub_id)));
    return h('tr', { class: 'clickable', dataset: { spokeId: s.id, status: s.status } }, cells);
  }

  async function load() {
    const page = await api(`/v1/spokes${query({
      hub: hubId, ...filters, limit: pageSize, cursor: cursors[pageIndex],
    })}`);
    clear(body);
    rows.clear();
    for (const s of page.items) {
      const tr = row(s);
      rows.set(s.id, tr);
      body.append(tr);
    }
    if (!page.items.length) body.append(h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'No spokes match.')));
    nextCursor = page.next_cursor;
    prev.disabled = pageIndex === 0;
    next.disabled = !nextCursor;
    info.textContent = `page ${pageIndex + 1} · ${page.items.length} spoke(s)`;
    if (!drawnOnce) {
      drawnOnce = true;
      if (onFirstDraw) onFirstDraw();
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    filters = {
      status: status.value,
      account_id: account.value.trim(),
      label: labels.value.split(/\s+/).filter(Boolean),
    };
    cursors = [null];
    pageIndex = 0;
    load().catch(ctx.showError);
  });
  next.addEventListener('click', () => {
    if (!nextCursor) return;
    cursors[pageIndex + 1] = nextCursor;
    pageIndex += 1;
    load().catch(ctx.showError);
  });
  prev.addEventListener('click', () => {
    if (pageIndex === 0) return;
    pageIndex -= 1;
    load().catch(ctx.showError);
  });
  body.addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-spoke-id]');
    if (tr && !e.target.closest('a')) location.hash = `#/spokes/${tr.dataset.spokeId}`;
  });

  function matches(s) {
    if (filters.status && s.status !== filters.status) return false;
    if (filters.account_id && s.account_id !== filters.account_id) return false;
    for (const l of filters.label || []) {
      const [k, ...v] = l.split('=');
      if ((s.labels || {})[k] !== v.join('=')) return false;
    }
    return true;
  }

  return {
    el,
    load,
    /** A spoke changed: its row is replaced; a new one joins the last page when it matches. */
    update(s) {
      const old = rows.get(s.id);
      if (old) {
        const tr = row(s);
        rows.set(s.id, tr);
        old.replaceWith(tr);
      } else if (!nextCursor && matches(s) && rows.size < pageSize) {
        const empty = body.querySelector('td[colspan]');
        if (empty) empty.parentElement.remove();
        const tr = row(s);
        rows.set(s.id, tr);
        body.append(tr);
      }
    },
    has: (id) => rows.has(id),
  };
}
