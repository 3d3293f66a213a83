// Hubs: every hub with its status, modes, services, spokes by status and how much of each AWS
// limit of its modes it uses (all in the GET /v1/hubs page).

import { api, query } from './api.js';
import { h, clear, badge, countChips, capacity, throttle } from './dom.js';

export async function mount(root, _match, ctx) {
  const body = h('tbody');
  const more = h('div', { class: 'pager' });
  root.append(
    h('h1', {}, 'Hubs'),
    h('table', { id: 'hubs' },
      h('thead', {}, h('tr', {}, ['Hub', 'Status', 'Modes', 'Account / VPC', 'Services', 'Spokes', 'Capacity']
        .map((t) => h('th', {}, t)))),
      body),
    more,
  );
  const rows = new Map(); // hub id -> tr
  let cursor = null;

  function row(hub) {
    const tr = h('tr', { dataset: { hubId: hub.id } },
      h('td', {}, h('a', { href: `#/hubs/${hub.id}`, class: 'hub-link' }, hub.name)),
      h('td', { dataset: { col: 'status' } }, badge(hub.status),
        hub.last_error ? h('div', { class: 'err' }, hub.last_error) : null),
      h('td', {}, `${hub.network_mode} · ${hub.dns_mode}`),
      h('td', { class: 'mono' }, `${hub.account_id} ${hub.region}`, h('br'), hub.vpc_id),
      h('td', {}, hub.services.map((s) => s.name).join(', ')),
      h('td', { dataset: { col: 'spokes' } }, countChips(hub.spoke_counts)),
      h('td', { dataset: { col: 'capacity' } }, capacity(hub.capacity)),
    );
    return tr;
  }

  async function refreshHub(id) {
    try {
      const hub = await api(`/v1/hubs/${id}`);
      const old = rows.get(id);
      const tr = row(hub);
      rows.set(id, tr);
      if (old) old.replaceWith(tr);
      else body.append(tr);
    } catch (e) {
      if (e.status === 404 && rows.has(id)) { rows.get(id).remove(); rows.delete(id); } else ctx.showError(e);
    }
  }

  async function loadPage() {
    const page = await api(`/v1/hubs${query({ limit: 50, cursor })}`);
    for (const hub of page.items) {
      const tr = row(hub);
      rows.set(hub.id, tr);
      body.append(tr);
    }
    cursor = page.next_cursor;
    clear(more);
    if (cursor) more.append(h('button', { onclick: () => loadPage().catch(ctx.showError) }, 'More hubs'));
    if (!rows.size) body.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No hubs registered.')));
  }

  await loadPage();
  const pendingHubs = new Set();
  const flush = throttle(() => {
    const ids = [...pendingHubs];
    pendingHubs.clear();
    ids.forEach((id) => refreshHub(id));
  }, 400);

  return {
    live: {},
    onEvent(ev) {
      if (ev.hub_id && (rows.has(ev.hub_id) || ev.job_kind === 'provision_hub')) {
        pendingHubs.add(ev.hub_id);
        flush();
      }
    },
    refresh() {
      for (const id of rows.keys()) pendingHubs.add(id);
      flush();
    },
  };
}
