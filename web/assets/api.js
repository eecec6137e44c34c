// Calls to the public HTTP API with the signed-in user's token. Errors come back as an
// ApiError: the API's code, field and (for a CSV) rows, the HTTP status, and a pt-BR message.

import { getConfig, refresh, session } from './auth.js';
import { MESSAGES, errorMessage } from './messages.js';

export { MESSAGES };

/**
 * An API error: `message` is always Portuguese (see messages.js), worded from the code and
 * the field; the API's own English text stays in `apiMessage` and is never shown.
 */
export class ApiError extends Error {
  constructor(status, error = {}) {
    super(errorMessage(status, error));
    this.status = status;
    this.code = error.code;
    this.field = error.field;
    this.rows = error.rows;
    this.apiMessage = error.message;
  }
}

/** Set by the app: called when the session is no longer accepted. */
export const hooks = { onUnauthorized: () => {} };

async function send(method, path, body, contentType) {
  const headers = {};
  const current = session();
  if (current) headers.authorization = `Bearer ${current.token}`;
  if (body !== undefined) headers['content-type'] = contentType || 'application/json';
  return fetch(`${getConfig().apiBaseUrl}${path}`, {
    method,
    headers,
    body: body === undefined || contentType ? body : JSON.stringify(body),
    cache: 'no-store',
  });
}

/**
 * Calls the API. `body` is sent as JSON, or as is with `{contentType}` (e.g. a CSV text).
 */
export async function api(method, path, body, { contentType } = {}) {
  let response;
  try {
    response = await send(method, path, body, contentType);
    if (response.status === 401 && (await refresh())) response = await send(method, path, body, contentType);
  } catch {
    throw new ApiError(0, { code: 'network' });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || { code: 'http' };
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
    throw new ApiError(0, { code: 'network' });
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, (data && data.error) || {});
  return data;
}

export const enc = encodeURIComponent;
