// A hub's cost report (GET /v1/hubs/{id}/cost): what its endpoints cost per month against the
// same services as endpoints in every attached spoke VPC, and the saving. Data-processing lines
// rest on an assumed GB per spoke and are labelled as estimates.

import { api, query } from './api.js';
import { h, clear, problemText } from './dom.js';

const usd = (x) => `$${Number(x).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

function side(title, s) {
  return h('div', { class: 'grow' }, h('h3', {}, title),
    h('table', { class: 'cost-lines' },
      h('thead', {}, h('tr', {}, ['Item', 'Quantity', 'Unit price', 'Per month'].map((t) => h('th', {}, t)))),
      h('tbody', {}, s.lines.map((l) => h('tr', { dataset: { item: l.item } },
        h('td', { title: l.description }, l.item.replaceAll('_', ' '),
          l.estimate ? h('span', { class: 'chip' }, 'estimate') : null,
          l.confirmed ? null : h('span', { class: 'chip', title: 'the source does not state this price for this Region' }, 'unconfirmed price')),
        h('td', { class: 'mono' }, `${Number(l.quantity).toLocaleString('en-US')} ${l.unit}`),
        h('td', { class: 'mono' }, `$${l.unit_price}`),
        h('td', { class: 'mono' }, usd(l.monthly)))),
      h('tr', {}, h('th', { colspan: 3 }, 'Total per month'), h('th', { class: 'mono', dataset: { total: title } }, usd(s.monthly_total))))));
}

/** The cost panel of a hub; `reload()` reads the report again (after spokes changed). */
export function costPanel(hubId, ctx) {
  const azs = h('input', { name: 'spoke_azs', type: 'number', min: 1, max: 10, placeholder: 'as the hub', size: 6 });
  const gb = h('input', { name: 'gb_per_spoke_month', type: 'number', min: 0, step: 'any', placeholder: '0', size: 8 });
  const body = h('div', { id: 'cost-body' });
  const form = h('form', { class: 'filters', id: 'cost-form' },
    h('label', {}, 'AZs per spoke', azs), h('label', {}, 'GB per spoke per month (estimate)', gb),
    h('button', { type: 'submit' }, 'Compute'));
  const el = h('div', { class: 'panel', id: 'cost' }, h('h2', {}, 'Cost per month'), form, body);

  async function reload() {
    let r;
    try {
      r = await api(`/v1/hubs/${hubId}/cost${query({ spoke_azs: azs.value, gb_per_spoke_month: gb.value })}`);
    } catch (e) {
      clear(body).append(h('p', { class: 'error' }, problemText(e)));
      return;
    }
    clear(body).append(
      h('p', { class: 'verdict' }, h('b', { dataset: { saving: String(r.monthly_saving) } },
        `${r.monthly_saving >= 0 ? 'Saves' : 'Costs'} ${usd(Math.abs(r.monthly_saving))} per month`),
        ` (${r.currency}, ${r.hours_per_month} h a month, ${r.inputs.attached_spokes} attached spoke(s) in ${r.region})`),
      h('p', { class: 'muted' }, `${r.verdict.charAt(0).toUpperCase()}${r.verdict.slice(1)}.`),
      h('div', { class: 'row' }, side('This hub', r.hub), side('Endpoints in every spoke instead', r.alternative)),
      h('details', {}, h('summary', {}, 'Assumptions and price sources'),
        h('ul', {}, r.assumptions.map((a) => h('li', {}, a))),
        h('p', {}, `Prices: ${r.prices.table}${r.prices.overridden ? ' (overridden for this Region)' : ''}.`),
        h('ul', {}, r.prices.sources.map((s) => h('li', {}, `${s.key}: `,
          h('a', { href: s.url, rel: 'noreferrer noopener', target: '_blank' }, s.url || ''),
          s.read ? ` (read ${s.read})` : '', s.note ? `: ${s.note}` : ''))),
      ),
    );
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); reload().catch(ctx.showError); });
  return { el, reload };
}
