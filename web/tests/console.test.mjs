// Browser tests of the web console: a real `platefull dev` (debug build, free port, temp data
// dir) and headless Chromium driven by playwright-core. Run by scripts/browser-tests.sh.
//
// Environment: PLATEFULL_BIN (the platefull binary; default <target>/debug/platefull),
// CHROMIUM_PATH (default /usr/bin/chromium), PLATEFULL_TEST_ARTIFACTS (screenshots and the
// server log; default test-artifacts/console at the repo root).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = process.env.PLATEFULL_BIN
  || path.join(process.env.CARGO_TARGET_DIR || path.join(root, 'target'), 'debug', 'platefull');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const artifacts = process.env.PLATEFULL_TEST_ARTIFACTS || path.join(root, 'test-artifacts', 'console');
const MOBILE = { width: 360, height: 740 };
const DESKTOP = { width: 1280, height: 800 };

const run = Math.random().toString(36).slice(2, 8);
const alice = `alice-${run}`;
const bob = `bob-${run}`;
const connectionName = `Pizzaria Teste ${run}`;

let server;
let serverExit;
let dataDir;
let base;
let browser;
let context;
let page;
let storeId;
let startupText = '';
/** What the browser refused under the console's Content-Security-Policy, and page errors. */
const violations = [];

/**
 * Collects into `into` every CSP violation (the `securitypolicyviolation` event, reported
 * through a binding so it survives navigations, and Chromium's console message for it) and
 * every uncaught page error, on every page of `target` (a browser context).
 */
async function watchViolations(target, into) {
  await target.exposeBinding('__platefullViolation', (_source, text) => { into.push(text); });
  await target.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__platefullViolation(`CSP ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  target.on('page', (p) => {
    p.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) into.push(`console: ${msg.text()}`);
    });
    p.on('pageerror', (err) => into.push(`page error: ${err.message}`));
  });
}

async function startServer() {
  dataDir = mkdtempSync(path.join(tmpdir(), 'platefull-console-'));
  mkdirSync(artifacts, { recursive: true });
  const log = createWriteStream(path.join(artifacts, 'platefull-dev.log'));
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' };
  delete env.OPENROUTER_API_KEY; // the bot answers with its offline notice: no network
  server = spawn(bin, ['dev', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--web-dir', path.join(root, 'web')], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  serverExit = new Promise((resolve) => server.once('exit', resolve));
  server.stderr.pipe(log);
  base = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`platefull dev did not start in 60 s:\n${seen}`)), 60000);
    server.once('error', (err) => reject(new Error(`can't run ${bin}: ${err.message}`)));
    server.once('exit', (code) => reject(new Error(`platefull dev exited (${code}):\n${seen}`)));
    server.stdout.on('data', (chunk) => {
      log.write(chunk);
      seen += chunk;
      startupText = seen;
      const match = seen.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  assert.match(startupText, /console:\s+http/, 'platefull dev serves the console');
  for (let i = 0; ; i += 1) {
    try {
      const response = await fetch(`${base}/health`);
      if (response.ok) break;
    } catch {
      // not yet
    }
    if (i > 150) throw new Error('/health did not answer 200 within 30 s');
    await sleep(200);
  }
}


async function stopServer() {
  if (!server || server.exitCode !== null) return;
  server.kill('SIGTERM');
  const stopped = await Promise.race([serverExit.then(() => true), sleep(10000).then(() => false)]);
  if (!stopped) {
    server.kill('SIGKILL');
    await serverExit;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value or `timeout` ms pass. */
async function eventually(check, timeout, what) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await sleep(200);
  }
}

/** Screenshots of the current page at phone and desktop width; no horizontal scroll at 360 px. */
async function shoot(target, name) {
  await target.setViewportSize(MOBILE);
  await sleep(150);
  const width = await target.evaluate(() => document.documentElement.scrollWidth);
  await target.screenshot({ path: path.join(artifacts, `${name}-360.png`), fullPage: true });
  await target.setViewportSize(DESKTOP);
  await sleep(150);
  await target.screenshot({ path: path.join(artifacts, `${name}-1280.png`), fullPage: true });
  await target.setViewportSize(MOBILE);
  assert.ok(width <= MOBILE.width, `${name}: the page is ${width} px wide at 360 px (horizontal scroll)`);
}

async function signIn(target, userId) {
  await target.goto(`${base}/`);
  const input = target.getByLabel('Identificador do usuário');
  await input.waitFor();
  await input.fill(userId);
  await input.press('Enter');
  await target.waitForURL(`${base}/dashboard`);
  await target.getByRole('heading', { name: 'Suas APIs' }).waitFor();
}

/** Calls the API from the page with its session (what the console itself would send). */
function pageFetch(target, method, urlPath, body) {
  return target.evaluate(async ({ method, urlPath, body }) => {
    const { token } = JSON.parse(sessionStorage.getItem('platefull.session'));
    const response = await fetch(urlPath, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: await response.json().catch(() => null) };
  }, { method, urlPath, body });
}

function apiCard(target, name) {
  return target.locator('article.api-card').filter({ has: target.getByRole('heading', { name, exact: true }) });
}

function slotOf(target, n) {
  return target.locator(`section.connection[data-store-id="${storeId}"] li.slot[data-slot="${n}"]`);
}

before(async () => {
  await startServer();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: MOBILE, locale: 'pt-BR' });
  context.setDefaultTimeout(10000);
  await watchViolations(context, violations);
  page = await context.newPage();
});

after(async () => {
  try {
    if (browser) await browser.close();
  } finally {
    await stopServer();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
});

process.on('exit', () => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
});

test('the local stack serves the console pages and keeps the API 404 as JSON', async () => {
  for (const pagePath of ['/', '/dashboard', '/connections', '/whatsapp-tools']) {
    const response = await fetch(`${base}${pagePath}`);
    assert.equal(response.status, 200, pagePath);
    assert.match(response.headers.get('content-type'), /text\/html/, pagePath);
  }
  const missing = await fetch(`${base}/api/no-such-route`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, 'not_found');
  const config = await (await fetch(`${base}/console-config.json`)).json();
  assert.deepEqual(config, { auth: 'dev', simulator: true });
});

test('the console is served under its Content-Security-Policy, which the browser enforces', { timeout: 60000 }, async () => {
  for (const pagePath of ['/', '/dashboard', '/assets/app.js', '/console-config.json']) {
    const headers = (await fetch(`${base}${pagePath}`)).headers;
    const csp = headers.get('content-security-policy') || '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'",
      "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      assert.ok(csp.includes(directive), `${pagePath}: ${directive} in ${csp}`);
    }
    assert.ok(!/unsafe-/.test(csp), `${pagePath}: ${csp}`);
    assert.equal(headers.get('x-content-type-options'), 'nosniff', pagePath);
    assert.equal(headers.get('referrer-policy'), 'no-referrer', pagePath);
  }
  // The watch catches what the policy refuses: an inline script and style in a page of
  // its own (so the console's own run below starts clean).
  const probe = await browser.newContext();
  const caught = [];
  try {
    await watchViolations(probe, caught);
    const p = await probe.newPage();
    await p.goto(`${base}/`);
    await p.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.inlineRan = true;';
      document.body.append(script);
      document.body.setAttribute('style', 'color: red');
    });
    await eventually(async () => caught.some((v) => v.includes('script-src')) && caught.some((v) => v.includes('style-src')), 5000, 'the CSP violations to be reported');
    assert.equal(await p.evaluate(() => window.inlineRan), undefined, 'the inline script did not run');
  } finally {
    await probe.close();
  }
});

test('sign in (keyboard only); a bad user id shows the API message', { timeout: 60000 }, async () => {
  await page.goto(`${base}/`);
  const input = page.getByLabel('Identificador do usuário');
  await input.waitFor();
  await shoot(page, '01-sign-in');
  // The skip link is the first stop; the user field already has focus.
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'userId');
  await page.keyboard.type('a b');
  await page.keyboard.press('Enter');
  const error = page.locator('[data-error-for="userId"]');
  await eventually(async () => /only letters, digits/.test(await error.textContent()), 5000, 'the userId error');
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  await input.fill(alice);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Entrar');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/dashboard`);
  await page.getByRole('heading', { name: 'Suas APIs' }).waitFor();
  assert.equal(await page.locator('#who').textContent(), alice);
  assert.match(await page.locator('.empty').textContent(), /Nenhuma API cadastrada/);
});

test('add a WhatsApp connection: the apiKey is shown once with a copy button', { timeout: 60000 }, async () => {
  await page.getByLabel('Nome').fill(connectionName);
  await page.getByLabel('Tipo').selectOption('whatsapp');
  await page.getByRole('button', { name: 'Adicionar' }).click();
  const key = page.getByLabel('Chave de API', { exact: true });
  await key.waitFor();
  const apiKey = await key.inputValue();
  assert.match(apiKey, /^pfk_/);
  assert.ok(await page.getByRole('button', { name: 'Copiar' }).isVisible());
  assert.match(await page.locator('#key-warning').textContent(), /aparece só desta vez/);
  const card = apiCard(page, connectionName);
  await card.waitFor();
  assert.equal(await card.locator('.badge.status-disconnected').textContent(), 'desconectado');
  storeId = (await card.locator('dd.mono').first().textContent()).trim();
  assert.match(storeId, /^st_/);
  await shoot(page, '02-dashboard-new-key');
  // The raw key is kept nowhere: not in storage, not after dismissing, not after a reload.
  assert.ok(!(await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }))).includes(apiKey));
  await page.getByRole('button', { name: 'Já guardei a chave' }).click();
  assert.ok(!(await page.content()).includes(apiKey));
  await page.reload();
  await apiCard(page, connectionName).waitFor();
  assert.ok(!(await page.content()).includes(apiKey));
  await shoot(page, '03-dashboard');
});

test('dashboard: test a connection, rotate a key, remove with confirmation', { timeout: 60000 }, async () => {
  const card = apiCard(page, connectionName);
  await card.getByRole('button', { name: 'Testar conexão' }).click();
  await eventually(async () => /no WhatsApp number is linked yet/.test(await card.locator('.result').textContent()), 5000, 'the test result');

  const temp = `Loja Temporária ${run}`;
  await page.getByLabel('Nome').fill(temp);
  await page.getByRole('button', { name: 'Adicionar' }).click();
  const first = await page.getByLabel('Chave de API', { exact: true }).inputValue();
  await page.getByRole('button', { name: 'Já guardei a chave' }).click();
  const tempCard = apiCard(page, temp);
  await tempCard.getByRole('button', { name: 'Gerar nova chave' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await shoot(page, '04-dashboard-confirm');
  await dialog.getByRole('button', { name: 'Gerar nova chave' }).click();
  const rotated = await eventually(async () => {
    const value = await page.getByLabel('Chave de API', { exact: true }).inputValue();
    return value && value !== first ? value : null;
  }, 5000, 'the rotated key');
  assert.match(rotated, /^pfk_/);
  await page.getByRole('button', { name: 'Já guardei a chave' }).click();

  // Cancel keeps it; confirm removes it.
  await tempCard.getByRole('button', { name: 'Remover' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancelar' }).click();
  assert.equal(await tempCard.count(), 1);
  await tempCard.getByRole('button', { name: 'Remover' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remover' }).click();
  await eventually(async () => (await apiCard(page, temp).count()) === 0, 5000, 'the card to go away');
  assert.equal(await apiCard(page, connectionName).count(), 1);
});

test('connections: start slot 1 and see the QR image', { timeout: 60000 }, async () => {
  await page.getByRole('link', { name: 'Conexões' }).click();
  await page.waitForURL(`${base}/connections`);
  const slot = slotOf(page, 1);
  await slot.waitFor();
  await eventually(async () => (await slot.locator('.badge').textContent()) === 'desconectado', 5000, 'slot 1 status');
  await slot.getByRole('button', { name: 'Conectar' }).click();
  const img = slot.getByRole('img', { name: /QR code para conectar o número 1/ });
  await img.waitFor({ timeout: 10000 });
  assert.match(await img.getAttribute('src'), /^data:image\/png;base64,/);
  assert.equal(await slot.locator('.badge').textContent(), 'aguardando leitura do QR');
  const loaded = await img.evaluate((el) => el.complete && el.naturalWidth > 0);
  assert.ok(loaded, 'the QR image decodes');
  await shoot(page, '05-connections-qr');
});

test('pair slot 1 with the simulator and see "conectado"', { timeout: 60000 }, async () => {
  const slot = slotOf(page, 1);
  await slot.getByRole('button', { name: 'Parear (simulador)' }).click();
  await eventually(async () => (await slot.locator('.badge').textContent()) === 'conectado', 10000, 'slot 1 "conectado"');
  assert.ok(await slot.getByRole('img').isHidden(), 'the QR goes away once connected');
  assert.match(await slot.locator('.phone').textContent(), /Telefone: \+55/);
  await shoot(page, '06-connections-connected');
});

test('simulator: a customer message gets the bot\'s reply in the panel', { timeout: 60000 }, async () => {
  const target = page.getByLabel('Número conectado');
  await eventually(async () => (await target.inputValue()) === `${storeId}|1`, 5000, 'slot 1 in the simulator panel');
  await page.getByLabel('Mensagem do cliente').fill('Oi, vocês entregam hoje?');
  await page.getByRole('button', { name: 'Enviar como cliente' }).click();
  await page.locator('.chat-log .msg-cliente').first().waitFor({ timeout: 5000 });
  try {
    await page.locator('.chat-log .msg-atendente').first().waitFor({ timeout: 15000 });
  } finally {
    await shoot(page, '07-connections-simulator');
  }
  assert.ok((await page.locator('.chat-log .msg-atendente .text').first().textContent()).trim().length > 0);
});

test('bot settings are saved and persist after reload', { timeout: 60000 }, async () => {
  await page.getByRole('link', { name: 'Atendente' }).click();
  await page.waitForURL(`${base}/whatsapp-tools`);
  const picker = page.getByLabel('Conexão', { exact: true });
  await picker.waitFor();
  assert.equal(await picker.inputValue(), storeId);
  const form = page.getByRole('form', { name: 'Configuração do atendente' });
  await eventually(async () => (await form.getAttribute('aria-busy')) === 'false', 5000, 'the config to load');
  assert.equal(await page.getByLabel('Limite de mensagens').inputValue(), '30');
  assert.equal(await page.getByLabel('Tempo de contexto (minutos)').inputValue(), '60');
  assert.ok(await page.getByLabel('Atendente ligado').isChecked());

  await page.getByLabel('Nome do atendente').fill('Maria');
  await page.getByLabel('Tipo de loja').fill('pizzaria');
  await page.getByLabel('Prompt base').fill('Você é a Maria, atendente da pizzaria. Seja breve e simpática.');
  await page.getByLabel('Assuntos proibidos').fill('política, religião');
  await page.getByLabel('Tempo de contexto (minutos)').fill('90');
  await page.getByLabel('Limite de mensagens').fill('40');
  assert.equal(await page.getByLabel('Espera antes de responder (segundos)').inputValue(), '3');
  assert.equal(await page.getByLabel('Fuso horário da loja').inputValue(), 'America/Sao_Paulo');
  await page.getByLabel('Espera antes de responder (segundos)').fill('5');
  await page.getByLabel('Pausa quando você responde (minutos)').fill('15');
  await page.getByLabel('Fuso horário da loja').fill('America/Manaus');
  await page.getByLabel('Atendente ligado').uncheck();
  await page.getByRole('button', { name: 'Salvar' }).click();
  await eventually(async () => /Configuração salva/.test(await form.locator('[role="status"]').textContent()), 5000, '"Configuração salva"');
  await shoot(page, '08-whatsapp-tools');

  await page.reload();
  await eventually(async () => (await page.getByLabel('Nome do atendente').inputValue()) === 'Maria', 5000, 'the saved name after reload');
  assert.equal(await page.getByLabel('Tipo de loja').inputValue(), 'pizzaria');
  assert.match(await page.getByLabel('Prompt base').inputValue(), /^Você é a Maria/);
  assert.equal(await page.getByLabel('Assuntos proibidos').inputValue(), 'política, religião');
  assert.equal(await page.getByLabel('Tempo de contexto (minutos)').inputValue(), '90');
  assert.equal(await page.getByLabel('Limite de mensagens').inputValue(), '40');
  assert.equal(await page.getByLabel('Espera antes de responder (segundos)').inputValue(), '5');
  assert.equal(await page.getByLabel('Pausa quando você responde (minutos)').inputValue(), '15');
  assert.equal(await page.getByLabel('Fuso horário da loja').inputValue(), 'America/Manaus');
  assert.ok(!(await page.getByLabel('Atendente ligado').isChecked()));
  const stored = await pageFetch(page, 'GET', `/api/client/${storeId}/config`);
  assert.equal(stored.body.botName, 'Maria');
  assert.equal(stored.body.messageLimit, 40);
  assert.equal(stored.body.botEnabled, false);
  assert.equal(stored.body.debounceSeconds, 5);
  assert.equal(stored.body.takeoverMinutes, 15);
  assert.equal(stored.body.timezone, 'America/Manaus');
});

test('invalid values show the API\'s message next to the field and change nothing', { timeout: 60000 }, async () => {
  const limit = page.getByLabel('Limite de mensagens');
  await limit.fill('0');
  await page.getByRole('button', { name: 'Salvar' }).click();
  const limitError = page.locator('[data-error-for="messageLimit"]');
  await eventually(async () => /messageLimit must be between 1 and 200/.test(await limitError.textContent()), 5000, 'the messageLimit error');
  assert.equal(await limit.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'messageLimit');
  await shoot(page, '09-whatsapp-tools-invalid');

  await limit.fill('40');
  await page.getByLabel('Tempo de contexto (minutos)').fill('2000');
  await page.getByRole('button', { name: 'Salvar' }).click();
  const contextError = page.locator('[data-error-for="contextTime"]');
  await eventually(async () => /contextTime must be between 1 and 1440/.test(await contextError.textContent()), 5000, 'the contextTime error');
  assert.equal(await limitError.textContent(), '', 'the old error is cleared');

  await page.getByLabel('Tempo de contexto (minutos)').fill('90');
  await page.getByLabel('Fuso horário da loja').fill('Marte/Olimpo');
  await page.getByRole('button', { name: 'Salvar' }).click();
  await eventually(async () => /IANA/.test(await page.locator('[data-error-for="timezone"]').textContent()), 5000, 'the timezone error');
  await page.getByLabel('Fuso horário da loja').fill('America/Manaus');

  await page.getByLabel('Nome do atendente').fill('M'.repeat(61));
  await page.getByRole('button', { name: 'Salvar' }).click();
  await eventually(async () => /botName/.test(await page.locator('[data-error-for="botName"]').textContent()), 5000, 'the botName error');

  await page.reload();
  await eventually(async () => (await page.getByLabel('Nome do atendente').inputValue()) === 'Maria', 5000, 'the stored name');
  assert.equal(await page.getByLabel('Limite de mensagens').inputValue(), '40');
  assert.equal(await page.getByLabel('Tempo de contexto (minutos)').inputValue(), '90');
});

test('connections: disconnect unlinks slot 1', { timeout: 60000 }, async () => {
  await page.getByRole('link', { name: 'Conexões' }).click();
  const slot = slotOf(page, 1);
  await eventually(async () => (await slot.locator('.badge').textContent()) === 'conectado', 5000, 'slot 1 connected');
  await slot.getByRole('button', { name: 'Desconectar' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Desconectar' }).click();
  await eventually(async () => (await slot.locator('.badge').textContent()) === 'desconectado', 10000, 'slot 1 "desconectado"');
  assert.ok(await slot.getByRole('button', { name: 'Conectar' }).isVisible());
});

test('another user never sees the first user\'s data', { timeout: 60000 }, async () => {
  const other = await browser.newContext({ viewport: MOBILE, locale: 'pt-BR' });
  other.setDefaultTimeout(10000);
  await watchViolations(other, violations);
  try {
    const bobPage = await other.newPage();
    await signIn(bobPage, bob);
    await bobPage.locator('.empty').waitFor();
    const html = async () => bobPage.content();
    assert.ok(!(await html()).includes(connectionName));
    assert.ok(!(await html()).includes(storeId));
    await shoot(bobPage, '10-other-user-dashboard');
    for (const pagePath of ['/connections', '/whatsapp-tools']) {
      await bobPage.getByRole('link', { name: pagePath === '/connections' ? 'Conexões' : 'Atendente' }).click();
      await bobPage.waitForURL(`${base}${pagePath}`);
      await bobPage.locator('.empty').waitFor();
      assert.ok(!(await html()).includes(connectionName), pagePath);
      assert.ok(!(await html()).includes(storeId), pagePath);
    }
    // Even asked directly with Bob's token, Alice's store isn't there.
    for (const urlPath of [`/api/client/${storeId}/config`, `/api/whatsapp/${storeId}/sessions`]) {
      const answer = await pageFetch(bobPage, 'GET', urlPath);
      assert.equal(answer.status, 404, urlPath);
    }
    const list = await pageFetch(bobPage, 'GET', '/api/user-apis');
    assert.deepEqual(list.body, []);
    // Signing out ends the session: the pages send you back to sign in.
    await bobPage.getByRole('button', { name: 'Sair' }).click();
    await bobPage.waitForURL(`${base}/`);
    await bobPage.goto(`${base}/dashboard`);
    await bobPage.getByLabel('Identificador do usuário').waitFor();
  } finally {
    await other.close();
  }
});

test('no page broke the Content-Security-Policy or threw', () => {
  assert.deepEqual(violations, []);
});
