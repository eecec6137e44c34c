// Calls to the public HTTP API with the signed-in user's token. Errors come back as the
// API's {code, message, field} plus the HTTP status.

import { getConfig, refresh, session } from './auth.js';

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `erro ${status}`);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
  }
}

/** Set by the app: called when the session is no longer accepted. */
export const hooks = { onUnauthorized: () => {} };

async function send(method, path, body) {
  const headers = {};
  const current = session();
  if (current) headers.authorization = `Bearer ${current.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${getConfig().apiBaseUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
}

export async function api(method, path, body) {
  let response;
  try {
    response = await send(method, path, body);
    if (response.status === 401 && (await refresh())) response = await send(method, path, body);
  } catch {
    throw new ApiError(0, { code: 'network', message: 'Sem conexão com o servidor. Tente de novo.' });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || { code: 'http', message: `erro ${response.status}` };
    if (response.status === 401) hooks.onUnauthorized(error);
    throw new ApiError(response.status, error);
  }
  return data;
}

/** The local simulator's routes (no user token; they exist only in the local stack). */
export async function simulator(method, path, body) {
  const response = await fetch(`${getConfig().apiBaseUrl}/dev/simulator${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  }).catch(() => {
    throw new ApiError(0, { code: 'network', message: 'Sem conexão com o servidor.' });
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, (data && data.error) || {});
  return data;
}

export const enc = encodeURIComponent;
