// The console's entry point: sign-in, navigation (hash routes, so the token never appears in a
// URL and a view change never reloads the page), and the live stream each view subscribes to.

import { session, can, signIn, signOut, restore } from './api.js';
import { h, clear, problemText } from './dom.js';
import { LiveStream } from './live.js';
import * as hubs from './hubs.js';
import * as topology from './topology.js';
import * as spoke from './spoke.js';
import * as jobs from './jobs.js';
import * as audit from './audit.js';

// The page's identity: tests check that live updates never reload it.
window.__loadId = (crypto.randomUUID && crypto.randomUUID()) || String(Math.random()).slice(2);
window.__live = { mode: 'off', events: 0 };
window.__perf = {};
// Uncaught errors, kept for the browser tests (which fail on any).
window.__errors = [];
window.addEventListener('error', (e) => window.__errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason && (e.reason.stack || e.reason))));

const main = document.getElementById('main');
const top = document.getElementById('top');
const banner = document.getElementById('banner');
const liveBadge = document.getElementById('live');

let current = null; // { view, stream }

/** Routes: [pattern, view module, needed scopes (any of), nav label]. */
const ROUTES = [
  [/^\/hubs$/, hubs, ['read'], 'Hubs', '#/hubs'],
  [/^\/hubs\/([0-9a-f-]{36})$/, topology, ['read']],
  [/^\/spokes$/, spoke, ['read', 'spokes:write'], 'Spokes', '#/spokes'],
  [/^\/spokes\/([0-9a-f-]{36})$/, spoke, ['read', 'spokes:write']],
  [/^\/jobs$/, jobs, ['read', 'spokes:write'], 'Jobs', '#/jobs'],
  [/^\/jobs\/([0-9a-f-]{36})$/, jobs, ['read', 'spokes:write']],
  [/^\/audit$/, audit, ['read'], 'Audit', '#/audit'],
];

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  return { path, params: new URLSearchParams(qs || '') };
}

export function showError(err) {
  banner.textContent = problemText(err);
  banner.hidden = false;
}

export function clearError() {
  banner.hidden = true;
  banner.textContent = '';
}

function setLive(mode) {
  window.__live.mode = mode;
  liveBadge.className = `live ${mode}`;
  liveBadge.textContent = {
    sse: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…',
    gone: 'not live: this no longer exists', off: '',
  }[mode] || mode;
  liveBadge.dataset.mode = mode;
}

function unmount() {
  if (!current) return;
  if (current.stream) current.stream.stop();
  if (current.view && current.view.unmount) current.view.unmount();
  current = null;
}

function renderNav(path) {
  const nav = document.getElementById('nav');
  clear(nav);
  for (const [, , scopes, label, href] of ROUTES) {
    if (!label || !scopes.some(can)) continue;
    const active = path === href.slice(1) || path.startsWith(`${href.slice(1)}/`);
    nav.append(h('a', { href, class: active ? 'active' : '' }, label));
  }
  document.getElementById('whoami').textContent =
    `${session.me.name} (${session.me.scopes.join(', ')})`;
}

function defaultRoute() {
  return can('read') ? '#/hubs' : '#/spokes';
}

async function route() {
  if (!session.me) return showSignIn();
  const { path, params } = parseHash();
  const found = ROUTES.map((r) => [r, path.match(r[0])]).find(([, m]) => m);
  if (!found) {
    location.replace(defaultRoute());
    return;
  }
  const [[, view, scopes], match] = found;
  unmount();
  clearError();
  top.hidden = false;
  renderNav(path);
  clear(main);
  if (!scopes.some(can)) {
    main.append(h('p', { class: 'error' },
      `Token '${session.me.name}' has no scope for this view (it needs ${scopes.join(' or ')}).`));
    return;
  }
  const root = h('div', { class: 'view' });
  main.append(root);
  const ctx = { showError, clearError, params, path };
  let mounted;
  try {
    mounted = await view.mount(root, match.slice(1), ctx);
  } catch (e) {
    showError(e);
    return;
  }
  if (!mounted) {
    setLive('off');
    return;
  }
  const me = { view: mounted, stream: null };
  current = me;
  if (mounted.live) {
    me.stream = new LiveStream({
      filter: mounted.live,
      onEvent: (ev) => {
        window.__live.events += 1;
        window.__live.lastEventId = me.stream.lastEventId;
        if (current === me && mounted.onEvent) mounted.onEvent(ev);
      },
      onState: (mode) => {
        if (current !== me) return;
        setLive(mode);
        window.__live.connections = me.stream.connections;
        window.__live.resumedFrom = me.stream.resumedFrom;
      },
      onResync: () => { if (current === me && mounted.refresh) mounted.refresh(); },
      onUnauthorized: () => session.onUnauthorized(),
    });
    me.stream.start();
  } else {
    setLive('off');
  }
}

function showSignIn(message) {
  unmount();
  setLive('off');
  top.hidden = true;
  clear(main);
  main.append(document.getElementById('signin-template').content.cloneNode(true));
  const form = document.getElementById('signin-form');
  const err = document.getElementById('signin-error');
  if (message) err.textContent = message;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = form.token.value.trim();
    err.textContent = '';
    try {
      await signIn(token);
    } catch (ex) {
      err.textContent = ex.status === 401 ? 'This token is unknown or revoked.' : problemText(ex);
      return;
    }
    if (!parseHash().path || parseHash().path === '/' || parseHash().path === '/signin') {
      location.hash = defaultRoute();
    } else {
      route();
    }
  });
  document.getElementById('token').focus();
}

session.onUnauthorized = () => {
  signOut();
  showSignIn('The token was refused (401): sign in again.');
};

document.getElementById('signout').addEventListener('click', () => {
  signOut();
  showSignIn();
});

window.addEventListener('hashchange', () => route());

(async () => {
  try {
    await restore();
  } catch (e) {
    showError(e);
  }
  route();
})();
