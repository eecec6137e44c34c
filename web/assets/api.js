// Calls to the public HTTP API with the signed-in user's token. Errors come back as the
// API's {code, message, field} plus the HTTP status.

import { getConfig, refresh, session } from './auth.js';

// The API's messages are English; these codes get a message in Portuguese.
export const MESSAGES = {
  email_not_verified: 'Seu e-mail ainda não foi verificado. Verifique-o e entre de novo.',
  anonymous_user: 'Entre com uma conta (e-mail e senha) para usar o painel.',
  token_not_yet_valid: 'O relógio deste aparelho está fora da hora certa. Acerte-o e entre de novo.',
  cloud_api_token_rejected: 'A Meta recusou este token de acesso para este número. Use um token de usuário do sistema com acesso à conta do WhatsApp Business do número.',
  cloud_api_number_mismatch: 'A Meta não reconheceu este ID de número para este token. Confira o ID do número no WhatsApp Manager.',
  graph_api_unavailable: 'Não foi possível falar com a Meta agora. Nada foi alterado; tente de novo.',
  url_not_allowed: 'Este endereço não é permitido: use um endereço https público (nada de IPs, localhost ou redes internas).',
  api_key_required: 'Ao trocar o endereço, informe o token de novo: o token salvo nunca é enviado a outro endereço.',
  host_not_allowed: 'Acesso recusado: abra o painel pelo endereço em que a pilha local foi iniciada.',
  pairing_code_required: 'Falta o código de pareamento deste QR.',
  wrong_code: 'Código de pareamento incorreto ou já usado.',
  forbidden: 'Você não tem acesso a este recurso.',
  not_found: 'Não encontrado: talvez tenha sido removido.',
  payload_too_large: 'Os dados enviados são grandes demais.',
  unavailable: 'Serviço indisponível no momento. Nada foi alterado; tente de novo.',
  internal: 'Erro interno. Nada foi alterado; tente de novo em instantes.',
};

export class ApiError extends Error {
  constructor(status, error) {
    super(MESSAGES[error.code] || error.message || `erro ${status}`);
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
