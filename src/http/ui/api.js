// The API client: the token (this tab's sessionStorage only; never in a URL), who it belongs
// to and its scopes (GET /v1/whoami), and fetch with problem+json errors. A 401 anywhere sends
// the console back to sign-in.

const KEY = 'endpoint-hub.token';

export const session = {
  token: sessionStorage.getItem(KEY),
  me: null, // { name, scopes }
  onUnauthorized: () => {},
};

export class ApiError extends Error {
  constructor(status, problem, path) {
    super(problem ? `${problem.title}: ${problem.detail}` : `HTTP ${status} on ${path}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Whether the signed-in token may act with `scope` (`admin` may do everything). */
export function can(scope) {
  const scopes = (session.me && session.me.scopes) || [];
  return scopes.includes('admin') || scopes.includes(scope);
}

/** GET (or another method) on the API as the signed-in token; JSON answer or ApiError. */
export async function api(path, { method = 'GET', body, signal, token } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${token || session.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, signal, cache: 'no-store', credentials: 'omit',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let problem = null;
    try { problem = await res.json(); } catch { /* not JSON */ }
    if (res.status === 401 && !token) session.onUnauthorized(problem);
    throw new ApiError(res.status, problem, path);
  }
  return res.status === 204 ? null : res.json();
}

/** Checks `token` with GET /v1/whoami and keeps it for this tab. */
export async function signIn(token) {
  const me = await api('/v1/whoami', { token });
  session.token = token;
  session.me = me;
  sessionStorage.setItem(KEY, token);
  return me;
}

/** The stored token's identity, or null when there is none or it is refused. */
export async function restore() {
  if (!session.token) return null;
  try {
    session.me = await api('/v1/whoami', { token: session.token });
    return session.me;
  } catch (e) {
    if (e.status === 401) signOut();
    else throw e;
    return null;
  }
}

export function signOut() {
  session.token = null;
  session.me = null;
  sessionStorage.removeItem(KEY);
}

/** `?a=1&b=2` from an object, skipping empty values; arrays repeat the parameter. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.filter(Boolean).forEach((x) => q.append(k, x));
    else if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
