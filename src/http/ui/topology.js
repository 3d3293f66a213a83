// A hub's topology: the hub in the middle and its live spokes on rings around it, coloured by
// status, drift and conflicts ringed; and the same spokes as a filterable, paged table.
//
// The picture is drawn from GET /v1/hubs/{id}/topology (every live spoke, compact, one query)
// as a handful of SVG paths (one per status, one for drift, one for conflicts), so 5,000 spokes
// cost a few path strings, not 5,000 DOM nodes; one click and one mousemove listener find the
// spoke under the pointer through a grid. Live events refetch the one spoke concerned and
// redraw the paths.

import { api } from './api.js';
import { h, clear, badge, countChips, capacity, kv, throttle, SPOKE_STATUSES } from './dom.js';
import { spokeTable } from './table.js';
import { costPanel } from './cost.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 1000;
const H = 720;
const CX = W / 2;
const CY = H / 2;
const HUB_R = 48;
const MAX_R = H / 2 - 14;

function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** Positions for n spokes on rings around the hub: {r (dot radius), pts: [[x, y]], gap}. */
export function layout(n) {
  if (n === 0) return { r: 0, pts: [], gap: 1 };
  for (let r = 16; r > 0.8; r *= 0.92) {
    const gap = 2.6 * r;
    // Few spokes: one ring well away from the hub; many: rings from the hub outwards.
    const single = 230;
    if (2 * Math.PI * single / gap >= n) {
      return { r, gap, pts: ring(n, single, 0) };
    }
    const pts = [];
    let radius = HUB_R + 26 + r;
    let k = 0;
    while (pts.length < n && radius <= MAX_R - r) {
      const cap = Math.floor((2 * Math.PI * radius) / gap);
      pts.push(...ring(Math.min(cap, n - pts.length), radius, k));
      radius += gap;
      k += 1;
    }
    if (pts.length === n) return { r, gap, pts };
  }
  throw new Error(`cannot lay out ${n} spokes`);
}

function ring(count, radius, k) {
  const out = [];
  const offset = (k % 2) * (Math.PI / Math.max(count, 1)) - Math.PI / 2;
  for (let i = 0; i < count; i += 1) {
    const a = offset + (2 * Math.PI * i) / count;
    out.push([CX + radius * Math.cos(a), CY + radius * Math.sin(a)]);
  }
  return out;
}

function circles(points, r) {
  // Each circle as two arcs: "M x-r y a r r 0 1 0 2r 0 a r r 0 1 0 -2r 0".
  const d2 = (2 * r).toFixed(2);
  const rs = r.toFixed(2);
  return points.map(([x, y]) =>
    `M${(x - r).toFixed(1)} ${y.toFixed(1)}a${rs} ${rs} 0 1 0 ${d2} 0a${rs} ${rs} 0 1 0 -${d2} 0`).join('');
}

class Picture {
  constructor(onOpen) {
    this.items = []; // compact spokes, by id
    this.byId = new Map();
    this.hub = null;
    this.svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', id: 'topology' });
    this.tip = h('div', { class: 'tip', hidden: true });
    this.el = h('div', { class: 'topo' }, this.svg, this.tip);
    this.frame = null;
    this.svg.addEventListener('click', (e) => {
      const hit = this.hit(e);
      if (hit) onOpen(hit.id);
    });
    this.svg.addEventListener('mousemove', throttle((e) => this.hover(e), 40));
    this.svg.addEventListener('mouseleave', () => { this.tip.hidden = true; });
  }

  set(hub, spokes) {
    this.hub = hub;
    this.items = spokes.slice();
    this.byId = new Map(this.items.map((x) => [x.id, x]));
    this.draw();
  }

  /** One spoke changed (or appeared, or was detached). */
  update(spoke) {
    const compact = {
      id: spoke.id, account_id: spoke.account_id, vpc_id: spoke.vpc_id, cidrs: spoke.cidrs,
      status: spoke.status, last_error: spoke.last_error,
      drifted: !!(spoke.drift && ((spoke.drift.differences || []).length || spoke.drift.error)),
      conflicts: ((spoke.drift && spoke.drift.differences) || []).filter((d) => d.kind === 'conflict').length,
    };
    const known = this.byId.get(spoke.id);
    if (spoke.status === 'detached') {
      if (known) {
        this.items = this.items.filter((x) => x.id !== spoke.id);
        this.byId.delete(spoke.id);
      }
    } else if (known) {
      Object.assign(known, compact);
    } else {
      this.items.push(compact);
      this.items.sort((a, b) => (a.id < b.id ? -1 : 1));
      this.byId.set(spoke.id, compact);
    }
    this.schedule();
  }

  setHub(hub) {
    this.hub = hub;
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = null; this.draw(); });
  }

  draw() {
    const { r, pts, gap } = layout(this.items.length);
    this.pts = pts;
    this.r = r;
    this.gap = gap;
    // A grid of cells `gap` wide: the spoke under the pointer is in its cell or a neighbour.
    this.grid = new Map();
    pts.forEach(([x, y], i) => {
      const key = `${Math.floor(x / gap)},${Math.floor(y / gap)}`;
      if (!this.grid.has(key)) this.grid.set(key, []);
      this.grid.get(key).push(i);
    });
    const byStatus = new Map(SPOKE_STATUSES.map((st) => [st, []]));
    const drift = [];
    const conflict = [];
    this.items.forEach((x, i) => {
      (byStatus.get(x.status) || byStatus.get('pending')).push(pts[i]);
      if (x.drifted) drift.push(pts[i]);
      if (x.conflicts > 0) conflict.push(pts[i]);
    });
    const svg = this.svg;
    while (svg.firstChild) svg.firstChild.remove();
    if (this.items.length <= 400) {
      svg.append(s('path', {
        class: 'links',
        d: pts.map(([x, y]) => `M${CX} ${CY}L${x.toFixed(1)} ${y.toFixed(1)}`).join(''),
      }));
    }
    const hub = this.hub || {};
    svg.append(s('circle', { class: 'hub', cx: CX, cy: CY, r: HUB_R }));
    const hubDrift = hub.drift && ((hub.drift.differences || []).length || hub.drift.error);
    if (hubDrift) svg.append(s('circle', { class: 'hub-drift', cx: CX, cy: CY, r: HUB_R + 7 }));
    const label = s('text', { class: 'hub-label', x: CX, y: CY });
    label.textContent = hub.name || 'hub';
    svg.append(label);
    const dots = s('g', { class: 'dots' });
    for (const [st, list] of byStatus) {
      if (list.length) dots.append(s('path', { class: `f-${st}`, d: circles(list, r), 'data-status': st }));
    }
    svg.append(dots);
    if (drift.length) svg.append(s('path', { class: 'drift', d: circles(drift, r + Math.max(1.5, r * 0.35)) }));
    if (conflict.length) svg.append(s('path', { class: 'conflict', d: circles(conflict, r + Math.max(3, r * 0.7)) }));
    if (this.items.length <= 30) {
      this.items.forEach((x, i) => {
        const [px, py] = pts[i];
        const t = s('text', { class: 'spoke-label', x: px.toFixed(1), y: (py + r + 13).toFixed(1) });
        t.textContent = x.account_id;
        svg.append(t);
      });
    }
    this.sel = s('circle', { class: 'sel', r: r + 3, cx: -100, cy: -100 });
    svg.append(this.sel);
  }

  hit(e) {
    const ctm = this.svg.getScreenCTM();
    if (!ctm || !this.pts || !this.pts.length) return null;
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(ctm.inverse());
    const gx = Math.floor(p.x / this.gap);
    const gy = Math.floor(p.y / this.gap);
    let best = null;
    let bestD = (Math.max(this.r, 4) * 1.6) ** 2;
    for (let dx = -1; dx <= 1; dx += 1) {
      for (let dy = -1; dy <= 1; dy += 1) {
        for (const i of this.grid.get(`${gx + dx},${gy + dy}`) || []) {
          const [x, y] = this.pts[i];
          const d = (x - p.x) ** 2 + (y - p.y) ** 2;
          if (d < bestD) { bestD = d; best = i; }
        }
      }
    }
    return best === null ? null : { ...this.items[best], at: this.pts[best] };
  }

  hover(e) {
    const hit = this.hit(e);
    if (!hit) {
      this.tip.hidden = true;
      this.svg.style.cursor = '';
      this.sel.setAttribute('cx', -100);
      return;
    }
    this.svg.style.cursor = 'pointer';
    this.sel.setAttribute('cx', hit.at[0]);
    this.sel.setAttribute('cy', hit.at[1]);
    this.tip.textContent = `${hit.account_id} ${hit.vpc_id} · ${hit.status}${hit.drifted ? ' · drift' : ''}`
      + `${hit.conflicts ? ` · ${hit.conflicts} conflict(s)` : ''}${hit.last_error ? ` · ${hit.last_error.slice(0, 80)}` : ''}`;
    const box = this.el.getBoundingClientRect();
    this.tip.style.left = `${e.clientX - box.left + 12}px`;
    this.tip.style.top = `${e.clientY - box.top + 12}px`;
    this.tip.hidden = false;
  }
}

function legend(counts) {
  return h('div', { class: 'legend', id: 'legend' },
    SPOKE_STATUSES.map((st) => h('span', { dataset: { legend: st } }, h('i', { class: `l-${st}` }),
      `${st} ${counts ? counts[st] : 0}`)),
    h('span', {}, h('i', { class: 'ring' }), 'drift'),
    h('span', {}, h('i', { class: 'ring conflict' }), 'conflict'));
}

function hubPanel(hub) {
  const t = hub.transit_gateway;
  const diffs = (hub.drift && hub.drift.differences) || [];
  return h('div', { class: 'row' },
    h('div', { class: 'panel grow' },
      h('h1', {}, hub.name, ' ', badge(hub.status)),
      kv([
        ['Account / region', h('span', { class: 'mono' }, `${hub.account_id} ${hub.region}`)],
        ['VPC', h('span', { class: 'mono' }, `${hub.vpc_id} (${hub.cidrs.join(', ')})`)],
        ['Modes', `network ${hub.network_mode} · DNS ${hub.dns_mode} · reconcile ${hub.reconcile_mode}`],
        ['Services', hub.services.map((x) => x.name).join(', ')],
        ['Security group', h('span', { class: 'mono' }, hub.security_group_id || '')],
        ['Prefix list', h('span', { class: 'mono' }, hub.prefix_list_id || '')],
        hub.profile_id && ['Route 53 Profile', h('span', { class: 'mono' }, hub.profile_id)],
        t && ['Transit Gateway', h('span', { class: 'mono' }, t.transit_gateway_id || '')],
        ['Drift', hub.drift ? `${diffs.length} open difference(s), checked ${hub.drift.checked_at}` : 'not checked yet'],
        hub.last_error && ['Last error', h('span', { class: 'error' }, hub.last_error)],
      ])),
    h('div', { class: 'panel grow' },
      h('h2', {}, 'Spokes'), h('div', { id: 'hub-counts' }, countChips(hub.spoke_counts)),
      h('h2', {}, 'Capacity'), capacity(hub.capacity)));
}

export async function mount(root, [hubId], ctx) {
  const picture = new Picture((id) => { location.hash = `#/spokes/${id}`; });
  const header = h('div');
  const legendBox = h('div');
  let tableDrawn = false;
  let topologyDrawn = false;
  const done = () => {
    if (tableDrawn && topologyDrawn) {
      window.__perf.hubView = performance.now();
      document.body.dataset.view = 'topology-ready';
    }
  };
  const table = spokeTable({
    hubId,
    ctx,
    onFirstDraw: () => {
      performance.mark('table-drawn');
      window.__perf.table = performance.now();
      tableDrawn = true;
      done();
    },
  });
  const cost = costPanel(hubId, ctx);
  root.append(header, h('div', { class: 'panel', id: 'topology-panel' }, h('h2', {}, 'Topology'), legendBox, picture.el),
    h('div', { class: 'panel' }, h('h2', {}, 'Spokes'), table.el), cost.el);

  let hub;
  let topo;
  const tablePromise = table.load();
  [hub, topo] = await Promise.all([api(`/v1/hubs/${hubId}`), api(`/v1/hubs/${hubId}/topology`)]);
  header.append(hubPanel(hub));
  legendBox.append(legend(topo.counts));
  picture.set(hub, topo.spokes);
  // The picture is in the DOM; the mark is taken once the browser has laid it out and painted.
  requestAnimationFrame(() => {
    performance.mark('topology-drawn');
    window.__perf.topology = performance.now();
    window.__perf.spokes = topo.spokes.length;
    topologyDrawn = true;
    done();
  });
  await tablePromise;
  cost.reload(); // after the picture and the table: not part of the load time

  const refreshHub = throttle(async () => {
    try {
      hub = await api(`/v1/hubs/${hubId}`);
      clear(header).append(hubPanel(hub));
      clear(legendBox).append(legend(hub.spoke_counts));
      picture.setHub(hub);
      cost.reload();
    } catch (e) { ctx.showError(e); }
  }, 1000);

  async function reloadAll() {
    try {
      [hub, topo] = await Promise.all([api(`/v1/hubs/${hubId}`), api(`/v1/hubs/${hubId}/topology`)]);
      clear(header).append(hubPanel(hub));
      clear(legendBox).append(legend(topo.counts));
      picture.set(hub, topo.spokes);
      await table.load();
    } catch (e) { ctx.showError(e); }
  }

  const changed = new Set();
  const flush = throttle(async () => {
    const ids = [...changed];
    changed.clear();
    if (ids.length > 50) { await reloadAll(); return; }
    await Promise.all(ids.map(async (id) => {
      try {
        const spoke = await api(`/v1/spokes/${id}`);
        if (spoke.hub_id !== hubId) return;
        picture.update(spoke);
        table.update(spoke);
      } catch (e) {
        if (e.status !== 404) ctx.showError(e);
      }
    }));
    refreshHub();
  }, 250);

  return {
    live: { hub: hubId },
    onEvent(ev) {
      if (ev.spoke_id) {
        changed.add(ev.spoke_id);
        flush();
      } else {
        refreshHub();
      }
    },
    refresh() {
      // Events may have been missed (the stream could not resume): re-read everything shown.
      reloadAll();
    },
  };
}
