// Jobs: the list (filtered by status and kind, paged), and a job's steps and events with live
// progress; a failed job can be retried by an admin (the button is shown to admins only; the
// API refuses anyone else with 403 anyway).

import { api, can, query } from './api.js';
import { h, clear, badge, kv, fmtTime, short, throttle, link, JOB_STATUSES, JOB_KINDS } from './dom.js';

/** The steps of a job as a list with marks (done, running, failed, pending). */
export function jobSteps(job) {
  const done = job.steps.filter((x) => x.status === 'done').length;
  const bar = h('span');
  bar.style.width = `${job.steps.length ? (100 * done) / job.steps.length : 0}%`;
  return h('div', { class: 'job-steps' },
    h('div', { class: 'progress', title: `${done} of ${job.steps.length} steps` }, bar),
    h('ol', { class: 'steps', id: 'steps' }, job.steps.map((x) => h('li', { class: x.status, dataset: { step: x.name, status: x.status } },
      h('span', { class: 'mark' }), h('span', { class: 'mono' }, x.name), h('span', { class: 'muted' }, x.status)))));
}

function jobRow(j) {
  const done = j.steps.filter((x) => x.status === 'done').length;
  return h('tr', { class: 'clickable', dataset: { jobId: j.id } },
    h('td', {}, link(`#/jobs/${j.id}`, short(j.id), 'mono')), h('td', {}, j.kind),
    h('td', { dataset: { col: 'status' } }, badge(j.status)),
    h('td', {}, `${done}/${j.steps.length}${j.current_step && j.status !== 'succeeded' ? ` · ${j.current_step}` : ''}`),
    h('td', {}, j.spoke_id ? link(`#/spokes/${j.spoke_id}`, short(j.spoke_id), 'mono') : h('span', { class: 'muted' }, 'hub')),
    h('td', {}, fmtTime(j.created_at)), h('td', { class: 'err' }, j.last_error || ''));
}

async function list(root, ctx) {
  const status = h('select', { name: 'status' }, h('option', { value: '' }, 'any'), JOB_STATUSES.map((x) => h('option', { value: x }, x)));
  const kind = h('select', { name: 'kind' }, h('option', { value: '' }, 'any'), JOB_KINDS.map((x) => h('option', { value: x }, x)));
  status.value = ctx.params.get('status') || '';
  kind.value = ctx.params.get('kind') || '';
  const body = h('tbody');
  const prev = h('button', { type: 'button', disabled: true }, '‹ Previous');
  const next = h('button', { type: 'button', disabled: true }, 'Next ›');
  const info = h('span', { class: 'muted' });
  const form = h('form', { class: 'filters', id: 'job-filters' },
    h('label', {}, 'Status', status), h('label', {}, 'Kind', kind), h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  root.append(h('h1', {}, 'Jobs'), form,
    h('table', { id: 'jobs' }, h('thead', {}, h('tr', {}, ['Job', 'Kind', 'Status', 'Progress', 'Spoke', 'Created', 'Last error'].map((t) => h('th', {}, t)))), body),
    h('div', { class: 'pager' }, prev, next, info));
  const rows = new Map();
  let cursors = [null];
  let page = 0;
  let nextCursor = null;

  async function load() {
    const res = await api(`/v1/jobs${query({ status: status.value, kind: kind.value, limit: 50, cursor: cursors[page] })}`);
    clear(body);
    rows.clear();
    for (const j of res.items) { const tr = jobRow(j); rows.set(j.id, tr); body.append(tr); }
    if (!res.items.length) body.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No jobs match.')));
    nextCursor = res.next_cursor;
    prev.disabled = page === 0;
    next.disabled = !nextCursor;
    info.textContent = `page ${page + 1} · oldest first`;
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    // Keep the filters in the hash (never the token), so a filtered list can be linked.
    const q = query({ status: status.value, kind: kind.value });
    history.replaceState(null, '', `#/jobs${q}`);
    cursors = [null]; page = 0; load().catch(ctx.showError);
  });
  next.addEventListener('click', () => { cursors[page + 1] = nextCursor; page += 1; load().catch(ctx.showError); });
  prev.addEventListener('click', () => { page -= 1; load().catch(ctx.showError); });
  body.addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-job-id]');
    if (tr && !e.target.closest('a')) location.hash = `#/jobs/${tr.dataset.jobId}`;
  });
  await load();

  const changed = new Set();
  const flush = throttle(() => {
    const ids = [...changed];
    changed.clear();
    ids.forEach(async (id) => {
      try {
        const j = await api(`/v1/jobs/${id}`);
        const old = rows.get(id);
        const matches = (!status.value || j.status === status.value) && (!kind.value || j.kind === kind.value);
        if (old) { const tr = jobRow(j); rows.set(id, tr); old.replaceWith(tr); } else if (!nextCursor && matches && rows.size < 50) {
          const empty = body.querySelector('td[colspan]');
          if (empty) empty.parentElement.remove();
          const tr = jobRow(j); rows.set(id, tr); body.append(tr);
        }
      } catch (e) { if (e.status !== 404) ctx.showError(e); }
    });
  }, 300);
  return {
    live: {},
    onEvent(ev) { if (ev.job_id) { changed.add(ev.job_id); flush(); } },
    refresh() { load().catch(ctx.showError); },
  };
}

async function detail(root, id, ctx) {
  const box = h('div');
  root.append(box);

  function render(job) {
    const actions = [];
    if (job.status === 'failed' && can('admin')) {
      actions.push(h('button', {
        class: 'primary', id: 'retry', type: 'button',
        onclick: async (e) => {
          e.target.disabled = true;
          try { render(await api(`/v1/jobs/${id}/retry`, { method: 'POST' })); } catch (err) { ctx.showError(err); e.target.disabled = false; }
        },
      }, 'Retry from the failed step'));
    }
    const events = job.events || [];
    clear(box).append(
      h('div', { class: 'panel', id: 'job', dataset: { jobId: job.id, status: job.status } },
        h('h1', {}, `${job.kind} `, h('span', { dataset: { col: 'status' } }, badge(job.status)), ' ', actions),
        kv([
          ['Id', h('span', { class: 'mono' }, job.id)],
          ['Hub', can('read') ? link(`#/hubs/${job.hub_id}`, job.hub_id, 'mono') : h('span', { class: 'mono' }, job.hub_id)],
          job.spoke_id && ['Spoke', link(`#/spokes/${job.spoke_id}`, job.spoke_id, 'mono')],
          ['Current step', job.current_step || ''],
          ['Attempts of the step', String(job.attempts)],
          job.last_error && ['Last error', h('span', { class: 'error', id: 'job-error' }, job.last_error)],
          ['Created', fmtTime(job.created_at)],
          ['Finished', fmtTime(job.finished_at)],
        ])),
      h('div', { class: 'row' },
        h('div', { class: 'panel grow' }, h('h2', {}, 'Steps'), jobSteps(job)),
        h('div', { class: 'panel grow' }, h('h2', {}, 'Events'),
          h('table', { id: 'job-events' }, h('thead', {}, h('tr', {}, ['At', 'Step', 'Event', 'Message'].map((t) => h('th', {}, t)))),
            h('tbody', {}, events.slice().reverse().map((ev) => h('tr', {}, h('td', {}, fmtTime(ev.at)), h('td', { class: 'mono' }, ev.step || ''),
              h('td', {}, ev.kind), h('td', {}, ev.message || ''))))))),
    );
  }

  const load = async () => render(await api(`/v1/jobs/${id}`));
  await load();
  const refresh = throttle(() => load().catch(ctx.showError), 250);
  return { live: { job: id }, onEvent: refresh, refresh };
}

export function mount(root, [id], ctx) {
  return id ? detail(root, id, ctx) : list(root, ctx);
}
