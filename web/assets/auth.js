// Sign-in and the session of the console. The console learns how to sign in from
// /console-config.json:
//   local stack (served by `platefull dev`): {"auth":"dev","simulator":true}
//     → POST /dev/sign-in {"userId"} mints a local user token;
//   AWS (a static file deployed next to the assets):
//     {"auth":"stack","apiBaseUrl":"https://<api>","stackApiUrl":"https://api.stack-auth.com",
//      "projectId":"<Stack Auth project id>","publishableClientKey":"pck_…"}
//     → email and password through Stack Auth's client REST API; the access token is what the
//       API checks, refreshed with the refresh token when it expires.
// The session lives in sessionStorage (gone when the tab closes); nothing else is stored.

import { errorMessage } from './messages.js';

const KEY = 'platefull.session';

let config = null;

export async function loadConfig() {
  if (config) return config;
  const response = await fetch('/console-config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error('configuração do painel indisponível (/console-config.json)');
  config = await response.json();
  config.apiBaseUrl = (config.apiBaseUrl || '').replace(/\/+$/, '');
  return config;
}

export function getConfig() {
  return config;
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

function save(value) {
  sessionStorage.setItem(KEY, JSON.stringify(value));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/**
 * Local stack: a user id is enough. Throws `{code, field, message}` with the message in
 * pt-BR (worded from the API's code and field, never its English text).
 */
export async function devSignIn(userId) {
  const response = await fetch(`${config.apiBaseUrl}/dev/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  }).catch(() => null);
  if (!response) throw { code: 'network', message: errorMessage(0, { code: 'network' }) };
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.error || {};
    throw { code: error.code, field: error.field, message: errorMessage(response.status, error) };
  }
  save({ token: body.token, userId: body.userId, mode: 'dev' });
}

function stackHeaders() {
  return {
    'content-type': 'application/json',
    'x-stack-access-type': 'client',
    'x-stack-project-id': config.projectId,
    'x-stack-publishable-client-key': config.publishableClientKey,
  };
}

function stackUrl(path) {
  return `${(config.stackApiUrl || 'https://api.stack-auth.com').replace(/\/+$/, '')}/api/v1${path}`;
}

/** AWS: email and password through Stack Auth. */
export async function stackSignIn(email, password) {
  const response = await fetch(stackUrl('/auth/password/sign-in'), {
    method: 'POST',
    headers: stackHeaders(),
    body: JSON.stringify({ email, password }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    // Stack Auth's own text is English: only its status decides what the owner reads.
    if (response.status >= 500) throw { message: errorMessage(503, { code: 'unavailable' }) };
    throw { message: 'E-mail ou senha incorretos.', field: 'password' };
  }
  save({ token: body.access_token, refreshToken: body.refresh_token, userId: email, mode: 'stack' });
}

/** AWS: a new access token from the refresh token; false when the session is over. */
export async function refresh() {
  const current = session();
  if (!current || current.mode !== 'stack' || !current.refreshToken) return false;
  const response = await fetch(stackUrl('/auth/sessions/current/refresh'), {
    method: 'POST',
    headers: { ...stackHeaders(), 'x-stack-refresh-token': current.refreshToken },
    body: '{}',
  });
  if (!response.ok) return false;
  const body = await response.json().catch(() => ({}));
  if (!body.access_token) return false;
  save({ ...current, token: body.access_token });
  return true;
}
