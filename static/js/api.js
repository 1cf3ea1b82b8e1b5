// The JSON API client of livechat's pages.

/**
 * Calls the JSON API. Never throws for HTTP errors.
 * @param {string} method
 * @param {string} url
 * @param {object|FormData} [body]
 * @returns {Promise<{ok: boolean, status: number, data: any}>}
 */
export async function api(method, url, body) {
  const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, opts);
  } catch (e) {
    return { ok: false, status: 0, data: { detail: 'Could not reach the server. Check your connection.' } };
  }
  let data = {};
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { data = await res.json(); } catch (e) { data = {}; }
  }
  return { ok: res.ok, status: res.status, data };
}

/**
 * api() for the signed-in pages. A 401 means the session has ended (signed
 * out in another tab, the password changed elsewhere): go and sign in again.
 * @param {string} method
 * @param {string} url
 * @param {object|FormData} [body]
 * @returns {Promise<{ok: boolean, status: number, data: any}>}
 */
export async function adminApi(method, url, body) {
  const res = await api(method, url, body);
  if (res.status === 401) location.href = '/signin';
  return res;
}
