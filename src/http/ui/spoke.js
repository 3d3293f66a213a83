// A spoke: the AWS resources its attach made (with their ids), its drift, its jobs with their
// steps, and its audit trail. Without an id: every spoke, as the paged table.

import { api, can, query } from './api.js';
import { h, clear, badge, kv, fmtTime, short, throttle, link } from './dom.js';
import { spokeTable } from './table.js';
import { jobSteps } from './jobs.js';

const mono = (t) => h('span', { class: 'mono' }, t);

function resources(spoke, hub) {
  const cidrs = spoke.cidrs.length ? spoke.cidrs.join(', ') : '(read from AWS at attach)';
  const spokeTables = spoke.route_table_ids ? spoke.route_table_ids.join(', ') : 'every route table of the VPC';
  const rows = [
    ['Spoke VPC', mono(`${spoke.vpc_id} in ${spoke.account_id} ${spoke.region}`)],
    ['CIDRs', mono(cidrs)],
    ['Role', mono(spoke.role_arn)],
  ];
  if (!hub) {
    rows.push(['Network', spoke.peering_id ? mono(`peering ${spoke.peering_id}`)
      : spoke.tgw_attachment_id ? mono(`transit gateway attachment ${spoke.tgw_attachment_id}`) : '']);
    rows.push(['Spoke route tables', mono(spokeTables)]);
    rows.push(['Hub resources', h('span', { class: 'muted' }, 'reading the hub needs the read scope')]);
    return kv(rows);
  }
  const hubCidrs = hub.cidrs.join(', ');
  if (hub.network_mode === 'transit_gateway') {
    const t = hub.transit_gateway || {};
    rows.push(
      ['Transit Gateway', mono(t.transit_gateway_id || '')],
      ['Spoke attachment', mono(spoke.tgw_attachment_id || '')],
      ['Attachment subnets', mono(spoke.transit_subnet_ids ? spoke.transit_subnet_ids.join(', ') : 'lowest subnet of each zone')],
      ['Gateway route tables', mono(`hub ${t.hub_route_table_id || '?'} (learns ${cidrs}) · spokes ${t.spoke_route_table_id || '?'}`)],
      ['Routes in the spoke', mono(`${spokeTables}: ${hubCidrs} → ${t.transit_gateway_id || 'tgw'}`)],
      ['Routes in the hub', mono(`${hub.route_table_ids.join(', ')}: prefix list ${hub.prefix_list_id || '?'} → ${t.transit_gateway_id || 'tgw'}`)],
      ['Share', mono(t.share_arn || '')],
    );
  } else {
    rows.push(
      ['VPC peering', mono(spoke.peering_id || '')],
      ['Routes in the spoke', mono(`${spokeTables}: ${hubCidrs} → ${spoke.peering_id || 'pcx'}`)],
      ['Routes in the hub', mono(`${hub.route_table_ids.join(', ')}: ${cidrs} → ${spoke.peering_id || 'pcx'}`)],
    );
  }
  rows.push(
    ['Prefix-list entries', mono(`${hub.prefix_list_id || '?'}: ${cidrs}`)],
    ['Security group', mono(`${hub.security_group_id || '?'} admits the prefix list`)],
  );
  if (hub.dns_mode === 'profile') {
    rows.push(
      ['Route 53 Profile', mono(`${hub.profile_id || '?'} associated with ${spoke.vpc_id}`)],
      ['Profile share', mono(hub.share_arn || '')],
    );
  } else {
    const zones = hub.services.flatMap((svc) => svc.zones.map((z) => `${z.name} ${z.id || '(not made)'}`));
    rows.push(['Zone associations', h('div', {}, zones.map((z) => h('div', { class: 'mono' }, `${z} ↔ ${spoke.vpc_id}`)))]);
  }
  rows.push(['Hub', link(`#/hubs/${hub.id}`, `${hub.name} (${hub.vpc_id})`)]);
  return kv(rows);
}

function drift(spoke) {
  if (!spoke.drift) return h('p', { class: 'muted' }, 'Not checked by a reconcile yet.');
  const d = spoke.drift;
  return h('div', {},
    h('p', {}, `Checked ${fmtTime(d.checked_at)}: ${d.differences.length} open difference(s).`),
    d.error ? h('p', { class: 'error' }, d.error) : null,
    d.differences.length ? h('table', {}, h('thead', {}, h('tr', {}, ['Kind', 'Resource', 'Detail'].map((t) => h('th', {}, t)))),
      h('tbody', {}, d.differences.map((x) => h('tr', { dataset: { kind: x.kind } },
        h('td', {}, x.kind), h('td', {}, x.resource), h('td', {}, x.detail))))) : null);
}

async function list(root, ctx) {
  const table = spokeTable({ ctx });
  root.append(h('h1', {}, 'Spokes'), table.el);
  await table.load();
  const changed = new Set();
  const flush = throttle(() => {
    const ids = [...changed];
    changed.clear();
    ids.forEach((id) => api(`/v1/spokes/${id}`).then(table.update, () => {}));
  }, 300);
  return {
    live: {},
    onEvent(ev) { if (ev.spoke_id) { changed.add(ev.spoke_id); flush(); } },
    refresh() { table.load().catch(ctx.showError); },
  };
}

export async function mount(root, [id], ctx) {
  if (!id) return list(root, ctx);
  const head = h('div');
  const res = h('div');
  const driftBox = h('div');
  const jobsBox = h('div');
  const auditBox = h('div');
  root.append(head,
    h('div', { class: 'row' },
      h('div', { class: 'panel grow' }, h('h2', {}, 'AWS resources'), res),
      h('div', { class: 'panel grow' }, h('h2', {}, 'Drift'), driftBox)),
    h('div', { class: 'panel' }, h('h2', {}, 'Jobs'), jobsBox),
    h('div', { class: 'panel' }, h('h2', {}, 'Audit trail'), auditBox));

  let hub = null;

  function header(spoke) {
    const actions = [];
    if (can('spokes:write') && !['detached', 'detaching'].includes(spoke.status)) {
      actions.push(h('button', {
        class: 'danger', id: 'detach',
        onclick: async () => {
          if (!window.confirm(`Detach ${spoke.vpc_id} (${spoke.account_id}) from its hub?`)) return;
          try { await api(`/v1/spokes/${spoke.id}`, { method: 'DELETE' }); load(); } catch (e) { ctx.showError(e); }
        },
      }, 'Detach'));
    }
    return h('div', { class: 'panel', id: 'spoke', dataset: { spokeId: spoke.id } },
      h('h1', {}, `Spoke ${spoke.vpc_id} `, h('span', { dataset: { col: 'status' } }, badge(spoke.status)), ' ', actions),
      kv([
        ['Id', mono(spoke.id)],
        ['Labels', Object.entries(spoke.labels).map(([k, v]) => h('span', { class: 'chip' }, `${k}=${v}`))],
        spoke.job && ['Current job', h('span', {}, link(`#/jobs/${spoke.job.id}`, `${spoke.job.kind} ${short(spoke.job.id)}`), ' ',
          badge(spoke.job.status), ` ${spoke.job.steps_done}/${spoke.job.steps_total}`,
          spoke.job.current_step ? ` · ${spoke.job.current_step}` : '')],
        spoke.last_error && ['Last error', h('span', { class: 'error', dataset: { col: 'error' } }, spoke.last_error)],
        ['Enrolled', fmtTime(spoke.created_at)],
        ['Updated', fmtTime(spoke.updated_at)],
      ]));
  }

  async function loadJobs() {
    const page = await api(`/v1/jobs${query({ spoke_id: id, limit: 50 })}`);
    const jobs = page.items.slice().reverse(); // newest first
    const latest = jobs[0] ? await api(`/v1/jobs/${jobs[0].id}`) : null;
    clear(jobsBox).append(
      jobs.length ? h('table', { id: 'spoke-jobs' },
        h('thead', {}, h('tr', {}, ['Job', 'Kind', 'Status', 'Progress', 'Created', 'Last error'].map((t) => h('th', {}, t)))),
        h('tbody', {}, jobs.map((j) => h('tr', { dataset: { jobId: j.id } },
          h('td', {}, link(`#/jobs/${j.id}`, short(j.id), 'mono')), h('td', {}, j.kind), h('td', {}, badge(j.status)),
          h('td', {}, `${j.steps.filter((x) => x.status === 'done').length}/${j.steps.length}`),
          h('td', {}, fmtTime(j.created_at)), h('td', { class: 'err' }, j.last_error || ''))))) : h('p', { class: 'muted' }, 'No jobs.'),
      latest ? h('div', {}, h('h3', {}, `Steps of the latest job (${latest.kind})`), jobSteps(latest)) : null,
    );
  }

  async function loadAudit() {
    if (!can('read')) {
      clear(auditBox).append(h('p', { class: 'muted' }, 'The audit trail needs the read scope.'));
      return;
    }
    const page = await api(`/v1/audit${query({ target: `spoke:${id}`, limit: 50 })}`);
    clear(auditBox).append(page.items.length ? h('table', { id: 'spoke-audit' },
      h('thead', {}, h('tr', {}, ['At', 'Principal', 'Action', 'Outcome'].map((t) => h('th', {}, t)))),
      h('tbody', {}, page.items.map((a) => h('tr', {}, h('td', {}, fmtTime(a.at)), h('td', {}, a.principal),
        h('td', {}, a.action), h('td', {}, a.outcome))))) : h('p', { class: 'muted' }, 'No audit records.'),
    h('p', {}, link(`#/audit?target=${encodeURIComponent(`spoke:${id}`)}`, 'Search the audit log for this spoke')));
  }

  async function load() {
    const spoke = await api(`/v1/spokes/${id}`);
    if (!hub && can('read')) hub = await api(`/v1/hubs/${spoke.hub_id}`).catch(() => null);
    clear(head).append(header(spoke));
    clear(res).append(resources(spoke, hub));
    clear(driftBox).append(drift(spoke));
  }

  await Promise.all([load(), loadJobs(), loadAudit()]);
  const refresh = throttle(() => {
    Promise.all([load(), loadJobs(), loadAudit()]).catch(ctx.showError);
  }, 300);
  return { live: { spoke: id }, onEvent: refresh, refresh };
}
