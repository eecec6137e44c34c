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
import { eventually, sleep } from './stack.mjs';

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
/** Every English `message` the API answered the browser (errors, CSV rows, test results). */
const englishMessages = new Set();
let readingResponses = 0;

/** Records the English texts of the API's JSON answers to the pages of `target`. */
function watchApiMessages(target) {
  target.on('response', async (response) => {
    const url = new URL(response.url());
    if (!/^\/(api|dev)\//.test(url.pathname)) return;
    if (!/json/.test(response.headers()['content-type'] || '')) return;
    readingResponses += 1;
    try {
      const body = await response.json().catch(() => null);
      if (!body || typeof body !== 'object') return;
      const error = body.error || {};
      for (const text of [error.message, body.message, ...(error.rows || []).map((r) => r.message)]) {
        if (typeof text === 'string' && text.length > 3) englishMessages.add(text);
      }
    } finally {
      readingResponses -= 1;
    }
  });
}

/** Fails if the page shows any English message the API sent it. */
async function assertNoEnglish(target, where) {
  // Let the response handlers record what just arrived.
  await sleep(50);
  await eventually(async () => readingResponses === 0, 5000, 'the API answers to be read');
  const visible = await target.evaluate(() => document.body.innerText);
  for (const text of englishMessages) {
    assert.ok(!visible.includes(text), `${where}: the page shows the API's English text ${JSON.stringify(text)}`);
  }
}

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

/** Screenshots of the current page at phone and desktop width; no horizontal scroll at 360 px. */
async function shoot(target, name) {
  await assertNoEnglish(target, name);
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
    args: ['--headless', '--lang=pt-BR', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: MOBILE, locale: 'pt-BR' });
  context.setDefaultTimeout(10000);
  await watchViolations(context, violations);
  watchApiMessages(context);
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
  for (const pagePath of ['/', '/dashboard', '/connections', '/whatsapp-tools', '/cardapio', '/loja', '/pedidos', '/conversas']) {
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

test('sign in (keyboard only); a bad user id shows a pt-BR message, never the API\'s English', { timeout: 60000 }, async () => {
  await page.goto(`${base}/`);
  const input = page.getByLabel('Identificador do usuário');
  await input.waitFor();
  await shoot(page, '01-sign-in');
  // The skip link is the first stop; the user field already has focus.
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'userId');
  await page.keyboard.type('a b');
  await page.keyboard.press('Enter');
  const error = page.locator('[data-error-for="userId"]');
  await eventually(async () => /Use de 1 a 64 caracteres: letras sem acento, números e/.test(await error.textContent()), 5000, 'the userId error');
  assert.doesNotMatch(await page.locator('main').innerText(), /only letters|userId may/);
  await assertNoEnglish(page, 'sign-in error');
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
  await eventually(async () => /Nenhum número de WhatsApp conectado ainda/.test(await card.locator('.result').textContent()), 5000, 'the test result');
  assert.doesNotMatch(await card.innerText(), /no WhatsApp number|linked yet/);
  await assertNoEnglish(page, 'dashboard test result');

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

test('dashboard: "Testar conexão" with a linked number says so in pt-BR', { timeout: 60000 }, async () => {
  await page.getByRole('link', { name: 'Painel' }).click();
  await page.waitForURL(`${base}/dashboard`);
  const card = apiCard(page, connectionName);
  await card.getByRole('button', { name: 'Testar conexão' }).click();
  await eventually(async () => (await card.locator('.result').textContent()) === '1 de 3 números de WhatsApp está conectado.', 5000, 'the pt-BR test result');
  assert.equal(await card.locator('.badge.status-connected').textContent(), 'conectado');
  assert.doesNotMatch(await card.innerText(), /WhatsApp numbers is connected/);
  await assertNoEnglish(page, 'dashboard test result (connected)');
});

test('dashboard: a connection shows its usage chart (the simulator conversation counted) and no open incident', { timeout: 60000 }, async () => {
  await page.getByRole('link', { name: 'Painel' }).click();
  await page.waitForURL(`${base}/dashboard`);
  const card = apiCard(page, connectionName);
  const chart = card.locator('svg.usage-chart');
  await chart.waitFor({ timeout: 10000 });
  assert.equal(await chart.locator('rect.bar-messages').count(), 14, 'one bar pair a day for 14 days');
  assert.equal(await chart.locator('rect.bar-replies').count(), 14);
  // Today's bars hold the customer's message and the reply of the simulator test above.
  await eventually(async () => Number(await chart.locator('rect.bar-messages').last().getAttribute('height')) > 0,
    5000, "today's customer messages in the chart");
  assert.ok(Number(await chart.locator('rect.bar-replies').last().getAttribute('height')) > 0);
  assert.match(await chart.getAttribute('aria-label'), /Mensagens de clientes e respostas por dia/);
  assert.equal(await card.locator('.no-incidents').textContent(), 'Nenhum problema aberto.');
  assert.match(await card.locator('.usage-totals').innerText(), /Custo de IA no mês/);
  await assertNoEnglish(page, 'dashboard usage');
  await shoot(page, '07b-dashboard-usage');
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

test('invalid values show a pt-BR message next to the field and change nothing', { timeout: 60000 }, async () => {
  const limit = page.getByLabel('Limite de mensagens');
  await limit.fill('0');
  await page.getByRole('button', { name: 'Salvar' }).click();
  const limitError = page.locator('[data-error-for="messageLimit"]');
  await eventually(async () => (await limitError.textContent()) === 'Informe um número inteiro de 1 a 200 mensagens.', 5000, 'the messageLimit error');
  await eventually(async () => englishMessages.has('messageLimit must be between 1 and 200 messages (got 0)'), 5000, 'the API\'s English answer to be recorded');
  assert.doesNotMatch(await page.locator('main').innerText(), /messageLimit must be/);
  assert.equal(await limit.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'messageLimit');
  await shoot(page, '09-whatsapp-tools-invalid');

  await limit.fill('40');
  await page.getByLabel('Tempo de contexto (minutos)').fill('2000');
  await page.getByRole('button', { name: 'Salvar' }).click();
  const contextError = page.locator('[data-error-for="contextTime"]');
  await eventually(async () => (await contextError.textContent()) === 'Informe um número inteiro de 1 a 1440 minutos.', 5000, 'the contextTime error');
  await assertNoEnglish(page, 'contextTime error');
  assert.equal(await limitError.textContent(), '', 'the old error is cleared');

  await page.getByLabel('Tempo de contexto (minutos)').fill('90');
  await page.getByLabel('Fuso horário da loja').fill('Marte/Olimpo');
  await page.getByRole('button', { name: 'Salvar' }).click();
  await eventually(async () => /Fuso horário desconhecido/.test(await page.locator('[data-error-for="timezone"]').textContent()), 5000, 'the timezone error');
  await assertNoEnglish(page, 'timezone error');
  await page.getByLabel('Fuso horário da loja').fill('America/Manaus');

  await page.getByLabel('Nome do atendente').fill('M'.repeat(61));
  await page.getByRole('button', { name: 'Salvar' }).click();
  await eventually(async () => /até 60 caracteres/.test(await page.locator('[data-error-for="botName"]').textContent()), 5000, 'the botName error');
  await assertNoEnglish(page, 'botName error');

  await page.reload();
  await eventually(async () => (await page.getByLabel('Nome do atendente').inputValue()) === 'Maria', 5000, 'the stored name');
  assert.equal(await page.getByLabel('Limite de mensagens').inputValue(), '40');
  assert.equal(await page.getByLabel('Tempo de contexto (minutos)').inputValue(), '90');
});

/** The menu editor's form, once loaded. */
async function openMenu(target) {
  const form = target.getByRole('form', { name: 'Cardápio', exact: true });
  await form.waitFor();
  await eventually(async () => (await form.getAttribute('aria-busy')) === 'false', 5000, 'the menu to load');
  return form;
}

function menuItem(target, itemId) {
  return target.locator(`li.menu-item[data-item-id="${itemId}"]`);
}

async function getMenu(target) {
  const answer = await pageFetch(target, 'GET', `/api/client/${storeId}/menu`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

test('menu editor: categories, items with R$ prices and option groups are saved and come back', { timeout: 90000 }, async () => {
  await page.getByRole('link', { name: 'Cardápio', exact: true }).click();
  await page.waitForURL(`${base}/cardapio`);
  assert.equal(await page.getByLabel('Conexão', { exact: true }).inputValue(), storeId);
  const form = await openMenu(page);
  assert.match(await form.innerText(), /Nenhuma categoria ainda/);

  await page.getByRole('button', { name: 'Adicionar categoria' }).click();
  const categories = form.locator('li.menu-category');
  await categories.nth(0).getByLabel('Nome da categoria').fill('Pizzas');
  await categories.nth(0).getByRole('button', { name: 'Adicionar item' }).click();
  const calabresa = categories.nth(0).locator('li.menu-item').nth(0);
  await calabresa.getByLabel('Nome do item').fill('Calabresa');
  await calabresa.getByLabel('Preço (R$)').fill('45,90');
  await calabresa.getByLabel('Descrição (opcional)').fill('Molho, calabresa e cebola');
  await calabresa.getByRole('button', { name: 'Adicionar grupo de opções' }).click();
  const group = calabresa.locator('fieldset.option-group').nth(0);
  await group.getByLabel('Nome do grupo').fill('Tamanho');
  await group.getByLabel('Mínimo').fill('1');
  await group.getByLabel('Máximo').fill('1');
  await group.getByRole('button', { name: 'Adicionar opção' }).click();
  await group.getByLabel('Opção', { exact: true }).nth(0).fill('Média');
  await group.getByLabel('Acréscimo (R$)').nth(0).fill('0');
  await group.getByRole('button', { name: 'Adicionar opção' }).click();
  await group.getByLabel('Opção', { exact: true }).nth(1).fill('Grande');
  await group.getByLabel('Acréscimo (R$)').nth(1).fill('10,00');
  await categories.nth(0).getByRole('button', { name: 'Adicionar item' }).click();
  const margherita = categories.nth(0).locator('li.menu-item').nth(1);
  await margherita.getByLabel('Nome do item').fill('Margherita');
  await margherita.getByLabel('Preço (R$)').fill('1.042,5');

  await page.getByRole('button', { name: 'Adicionar categoria' }).click();
  await categories.nth(1).getByLabel('Nome da categoria').fill('Bebidas');
  await categories.nth(1).getByRole('button', { name: 'Adicionar item' }).click();
  const drink = categories.nth(1).locator('li.menu-item').nth(0);
  await drink.getByLabel('Nome do item').fill('Refrigerante lata');
  await drink.getByLabel('Preço (R$)').fill('6.50');
  // Reorder: drinks first.
  await page.getByRole('button', { name: 'Mover a categoria Bebidas para cima' }).click();
  assert.equal(await categories.nth(0).getByLabel('Nome da categoria').inputValue(), 'Bebidas');
  assert.match(await form.locator('.sticky-actions').innerText(), /Alterações não salvas/);
  await shoot(page, '11-cardapio-editing');

  await page.getByRole('button', { name: 'Salvar cardápio' }).click();
  await eventually(async () => /Cardápio salvo/.test(await form.locator('.sticky-actions [role="status"]').textContent()), 5000, '"Cardápio salvo"');
  const menu = await getMenu(page);
  assert.deepEqual(menu.categories.map((c) => c.name), ['Bebidas', 'Pizzas']);
  const [drinks, pizzas] = menu.categories;
  assert.deepEqual(drinks.items.map((i) => [i.name, i.priceCents, i.available]), [['Refrigerante lata', 650, true]]);
  assert.deepEqual(pizzas.items.map((i) => [i.name, i.priceCents]), [['Calabresa', 4590], ['Margherita', 104250]]);
  assert.equal(pizzas.items[0].description, 'Molho, calabresa e cebola');
  const size = pizzas.items[0].optionGroups[0];
  assert.deepEqual([size.name, size.min, size.max], ['Tamanho', 1, 1]);
  assert.deepEqual(size.options.map((o) => [o.name, o.priceCents]), [['Média', 0], ['Grande', 1000]]);
  for (const id of [drinks.id, pizzas.id, ...pizzas.items.map((i) => i.id)]) assert.match(id, /^[a-z0-9-]{1,40}$/);

  await page.reload();
  const again = await openMenu(page);
  const item = menuItem(page, pizzas.items[0].id);
  assert.equal(await item.getByLabel('Nome do item').inputValue(), 'Calabresa');
  assert.equal(await item.getByLabel('Preço (R$)').inputValue(), '45,90');
  assert.equal(await menuItem(page, pizzas.items[1].id).getByLabel('Preço (R$)').inputValue(), '1.042,50');
  assert.equal(await item.getByLabel('Acréscimo (R$)').nth(1).inputValue(), '10,00');
  assert.equal(await again.locator('li.menu-category').nth(0).getByLabel('Nome da categoria').inputValue(), 'Bebidas');
  await shoot(page, '12-cardapio');
});

test('menu: the "Disponível" switch marks an item sold out at once (PATCH), reflected in GET', { timeout: 60000 }, async () => {
  const before = await getMenu(page);
  const calabresa = before.categories[1].items[0];
  const item = menuItem(page, calabresa.id);
  const patched = page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().endsWith(`/menu/items/${calabresa.id}`));
  await item.getByLabel('Disponível').uncheck();
  assert.equal((await patched).status(), 200);
  await eventually(async () => item.locator('.sold-out').isVisible(), 5000, 'the "esgotado" badge');
  const after = await getMenu(page);
  assert.equal(after.categories[1].items[0].available, false);
  assert.equal(after.categories[1].items[1].available, true, 'only that item changed');
  assert.equal(after.categories[0].items[0].available, true);
  await page.reload();
  await openMenu(page);
  assert.equal(await menuItem(page, calabresa.id).getByLabel('Disponível').isChecked(), false);
  await menuItem(page, calabresa.id).getByLabel('Disponível').check();
  await eventually(async () => (await getMenu(page)).categories[1].items[0].available === true, 5000, 'available again');
});

test('menu: a save sends GET\'s own bytes for what wasn\'t edited, Saipos codes included', { timeout: 60000 }, async () => {
  // A Saipos code set through the API shows in the editor and survives a console save.
  const before = await getMenu(page);
  const calabresa = before.categories[1].items[0];
  calabresa.saiposCode = 'CAL-01';
  delete before.updatedAt;
  assert.equal((await pageFetch(page, 'PUT', `/api/client/${storeId}/menu`, before)).status, 200);
  await page.reload();
  await openMenu(page);
  assert.equal(await menuItem(page, calabresa.id).getByLabel('Código Saipos (opcional)').inputValue(), 'CAL-01');
  const got = await page.evaluate(async (urlPath) => {
    const { token } = JSON.parse(sessionStorage.getItem('platefull.session'));
    return (await fetch(urlPath, { headers: { authorization: `Bearer ${token}` } })).text();
  }, `/api/client/${storeId}/menu`);

  const drink = before.categories[0].items[0];
  await menuItem(page, drink.id).getByLabel('Preço (R$)').fill('7,00');
  const saving = page.waitForRequest((r) => r.method() === 'PUT' && r.url().endsWith('/menu'));
  await page.getByRole('button', { name: 'Salvar cardápio' }).click();
  const sent = (await saving).postData();
  // The body is GET's text without the stamp, the one price edited.
  const expected = got.replace(/,"updatedAt":"[^"]*"}$/, '}').replace('"priceCents":650,', '"priceCents":700,');
  assert.notEqual(expected, got);
  assert.equal(sent, expected);
  await eventually(async () => (await getMenu(page)).categories[0].items[0].priceCents === 700, 5000, 'the new price');
  const after = await getMenu(page);
  assert.equal(after.categories[1].items[0].saiposCode, 'CAL-01');
  // Cleared in the editor: gone from the menu.
  await menuItem(page, calabresa.id).getByLabel('Código Saipos (opcional)').fill('  ');
  await menuItem(page, drink.id).getByLabel('Preço (R$)').fill('6,50');
  await page.getByRole('button', { name: 'Salvar cardápio' }).click();
  await eventually(async () => (await getMenu(page)).categories[0].items[0].priceCents === 650, 5000, 'the old price');
  assert.equal((await getMenu(page)).categories[1].items[0].saiposCode, undefined);
});

test('menu: a price the API refuses shows its pt-BR message next to that price', { timeout: 60000 }, async () => {
  const menu = await getMenu(page);
  const margherita = menuItem(page, menu.categories[1].items[1].id);
  const priceInput = margherita.getByLabel('Preço (R$)');
  await priceInput.fill('abc');
  await page.getByRole('button', { name: 'Salvar cardápio' }).click();
  const error = page.locator('[data-error-for="categories[1].items[1].priceCents"]');
  await eventually(async () => (await error.textContent()) === 'Preço inválido: use o formato 45,90.', 5000, 'the local price error');

  await priceInput.fill('100.000,01');
  const refused = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/menu'));
  await page.getByRole('button', { name: 'Salvar cardápio' }).click();
  const answer = await refused;
  assert.equal(answer.status(), 400);
  const body = await answer.json();
  assert.equal(body.error.code, 'validation_error');
  assert.equal(body.error.field, 'categories[1].items[1].priceCents');
  await eventually(async () => /^Preço inválido: use um valor de R\$ 0,00 a R\$ 100\.000,00/.test(await error.textContent()), 5000, 'the pt-BR price error');
  assert.equal(await priceInput.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'categories[1].items[1].priceCents');
  assert.ok(!(await page.locator('main').innerText()).includes(body.error.message));
  await shoot(page, '13-cardapio-invalid');
  // Nothing changed on the server.
  assert.equal((await getMenu(page)).categories[1].items[1].priceCents, 104250);
});

// As Excel in Brazil saves it: `;`, Portuguese column names, a quoted cell with the separator.
const GOOD_CSV = [
  'categoria;nome;descrição;preço;disponível;opções',
  'Pizzas;Calabresa;Molho, calabresa e cebola;45,90;sim;"Tamanho[1]: Média=0; Grande=10,00"',
  'Pizzas;Portuguesa;;52.00;sim;',
  'Sobremesas;Pudim;;R$ 12,00;não;',
].join('\n');

test('menu: CSV import shows what will change (dry run) and imports on confirm', { timeout: 60000 }, async () => {
  const form = page.getByRole('form', { name: 'Importar cardápio (CSV)' });
  // A bad file: the row errors in pt-BR, nothing imported.
  await form.getByLabel('Ou cole o conteúdo do CSV').fill('category,item,description,price,available,options\nPizzas,Calabresa,,caro,sim,\n');
  await form.getByRole('button', { name: 'Pré-visualizar importação' }).click();
  const errors = form.locator('.csv-errors');
  await errors.waitFor();
  assert.match(await errors.innerText(), /Linha \d+, coluna “preço”: preço inválido/);
  await assertNoEnglish(page, 'CSV errors');

  const before = await getMenu(page);
  // A file as older Excel versions save it: Latin-1 (the API reads it as such).
  await form.getByLabel('Arquivo CSV').setInputFiles({
    name: 'cardapio.csv', mimeType: 'text/csv', buffer: Buffer.from(GOOD_CSV, 'latin1'),
  });
  await form.getByRole('button', { name: 'Pré-visualizar importação' }).click();
  const preview = form.getByRole('region', { name: 'O que a importação muda' });
  await preview.waitFor();
  const text = await preview.innerText();
  assert.match(text, /3 item\(ns\) novo\(s\): Calabresa, Portuguesa, Pudim/);
  assert.match(text, /3 item\(ns\) removido\(s\): .*Refrigerante lata/);
  assert.match(text, /2 categoria\(s\) nova\(s\): Pizzas, Sobremesas/);
  assert.match(text, /2 categoria\(s\) e 3 item\(ns\)/);
  assert.match(text, /Portuguesa \(R\$ 52,00\)/);
  assert.match(text, /Pudim \(R\$ 12,00, esgotado\)/);
  await shoot(page, '14-cardapio-import-preview');
  assert.deepEqual(await getMenu(page), before, 'the dry run saved nothing');

  await preview.getByRole('button', { name: 'Confirmar importação' }).click();
  // The editor still holds the refused price of the test above: importing discards it.
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Descartar alterações não salvas/);
  await dialog.getByRole('button', { name: 'Importar mesmo assim' }).click();
  await eventually(async () => /Cardápio importado/.test(await form.innerText()), 5000, '"Cardápio importado"');
  const after = await getMenu(page);
  assert.deepEqual(after.categories.map((c) => c.name), ['Pizzas', 'Sobremesas']);
  assert.deepEqual(after.categories[0].items.map((i) => [i.name, i.priceCents]), [['Calabresa', 4590], ['Portuguesa', 5200]]);
  assert.equal(after.categories[0].items[0].description, 'Molho, calabresa e cebola');
  const size = after.categories[0].items[0].optionGroups[0];
  assert.deepEqual([size.name, size.min, size.max, size.options.map((o) => [o.name, o.priceCents])],
    ['Tamanho', 1, 1, [['Média', 0], ['Grande', 1000]]]);
  assert.equal(after.categories[1].items[0].available, false);
  // The editor shows the imported menu.
  await eventually(async () => (await page.getByRole('form', { name: 'Cardápio', exact: true }).locator('li.menu-category').nth(1).getByLabel('Nome da categoria').inputValue()) === 'Sobremesas', 5000, 'the imported menu in the editor');
});

/** A date in `zone` `days` from now, and its weekday in pt-BR ("sexta"). */
function dayInZone(days, zone) {
  const date = new Date(Date.now() + days * 86400000);
  const iso = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
  const key = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short' }).format(date).toLowerCase();
  const weekday = new Intl.DateTimeFormat('pt-BR', { timeZone: zone, weekday: 'long' }).format(date).replace(/-feira$/, '');
  return { iso, key, weekday };
}

test('/loja: hours with a shift past midnight, an exception, a delivery zone and Pix are saved and reloaded', { timeout: 90000 }, async () => {
  await page.getByRole('link', { name: 'Loja', exact: true }).click();
  await page.waitForURL(`${base}/loja`);
  const form = page.getByRole('form', { name: 'Dados da loja' });
  await eventually(async () => (await form.getAttribute('aria-busy')) === 'false', 5000, 'the profile to load');

  await form.getByLabel('Nome da loja (como os clientes conhecem)').fill('Pizzaria Bella');
  await form.getByLabel('Endereço', { exact: true }).fill('Rua Domingos de Morais, 100 - Vila Mariana, São Paulo');
  const friday = form.locator('fieldset.day[data-day="fri"]');
  await friday.getByRole('button', { name: 'Adicionar turno em Sexta' }).click();
  await friday.getByLabel('Abre', { exact: true }).fill('18:00');
  await friday.getByLabel('Fecha', { exact: true }).fill('02:00');
  assert.equal(await friday.locator('.shift-note').textContent(), '18:00–02:00 (termina no dia seguinte)');
  const monday = form.locator('fieldset.day[data-day="mon"]');
  await monday.getByRole('button', { name: 'Adicionar turno em Segunda' }).click();
  await monday.getByLabel('Abre', { exact: true }).fill('11:00');
  await monday.getByLabel('Fecha', { exact: true }).fill('14:30');
  await monday.getByRole('button', { name: 'Adicionar turno em Segunda' }).click();
  await monday.getByLabel('Abre', { exact: true }).nth(1).fill('18:00');
  await monday.getByLabel('Fecha', { exact: true }).nth(1).fill('23:30');
  assert.equal(await monday.locator('.shift-note').nth(1).textContent(), '18:00–23:30');

  await form.getByRole('button', { name: 'Adicionar exceção' }).click();
  const exception = form.locator('fieldset.exception').nth(0);
  await exception.getByLabel('Data', { exact: true }).fill('2026-12-25');
  assert.ok(await exception.getByLabel('Fechado o dia todo').isChecked());
  // Christmas Eve: open, but with its own hours.
  await form.getByRole('button', { name: 'Adicionar exceção' }).click();
  const eve = form.locator('fieldset.exception').nth(1);
  await eve.getByLabel('Data', { exact: true }).fill('2026-12-24');
  await eve.getByLabel('Fechado o dia todo').uncheck();
  await eve.getByLabel('Abre', { exact: true }).fill('17:00');
  await eve.getByLabel('Fecha', { exact: true }).fill('21:00');
  await form.getByLabel('Mensagem quando a loja está fechada (opcional)').fill('Estamos fechados agora, volte mais tarde!');

  await form.getByRole('button', { name: 'Adicionar zona de entrega' }).click();
  const zone = form.locator('fieldset.zone').nth(0);
  await zone.getByLabel('Nome da zona').fill('Zona Sul');
  await zone.getByLabel('Bairros atendidos').fill('Vila Mariana, Moema\nSaúde');
  await zone.getByLabel('Taxa (R$)').fill('7,50');
  await zone.getByLabel('Pedido mínimo (R$)').fill('30,00');
  await zone.getByLabel('Tempo de entrega (min)').fill('45');
  await form.getByLabel('Retirada no balcão').check();

  await form.getByLabel('Pix', { exact: true }).check();
  await form.getByLabel('Tipo da chave Pix').selectOption('cnpj');
  await form.getByLabel('Chave Pix', { exact: true }).fill('12345678000195');
  await form.getByLabel('Nome do recebedor').fill('Pizzaria Teste');
  await form.getByLabel('Cidade do recebedor').fill('Sao Paulo');
  await form.getByLabel('Dinheiro (com troco)').check();
  await form.getByLabel('Cartão na entrega').uncheck();
  await form.getByRole('button', { name: 'Salvar dados da loja' }).click();
  await eventually(async () => /Dados da loja salvos/.test(await form.locator('.sticky-actions [role="status"]').textContent()), 5000, '"Dados da loja salvos"');
  await shoot(page, '15-loja');

  const stored = (await pageFetch(page, 'GET', `/api/client/${storeId}/profile`)).body;
  assert.deepEqual(stored.hours.weekly.fri, [{ open: '18:00', close: '02:00' }]);
  assert.deepEqual(stored.hours.weekly.mon, [{ open: '11:00', close: '14:30' }, { open: '18:00', close: '23:30' }]);
  assert.deepEqual(stored.hours.weekly.sun, []);
  assert.deepEqual(stored.hours.exceptions, [
    { date: '2026-12-25', intervals: [] },
    { date: '2026-12-24', intervals: [{ open: '17:00', close: '21:00' }] },
  ]);
  assert.equal(stored.closedMessage, 'Estamos fechados agora, volte mais tarde!');
  assert.equal(stored.name, 'Pizzaria Bella');
  assert.equal(stored.delivery.pickup, true);
  const z = stored.delivery.zones[0];
  assert.deepEqual([z.name, z.neighborhoods, z.feeCents, z.minOrderCents, z.etaMinutes],
    ['Zona Sul', ['Vila Mariana', 'Moema', 'Saúde'], 750, 3000, 45]);
  assert.deepEqual(stored.payments.pix, { key: '12345678000195', keyType: 'cnpj', merchantName: 'Pizzaria Teste', merchantCity: 'Sao Paulo' });
  assert.equal(stored.payments.cash, true);
  assert.equal(stored.payments.card, false);

  await page.reload();
  const reloaded = page.getByRole('form', { name: 'Dados da loja' });
  await eventually(async () => (await reloaded.getAttribute('aria-busy')) === 'false', 5000, 'the profile to load again');
  const fri = reloaded.locator('fieldset.day[data-day="fri"]');
  assert.equal(await fri.getByLabel('Abre', { exact: true }).inputValue(), '18:00');
  assert.equal(await fri.getByLabel('Fecha', { exact: true }).inputValue(), '02:00');
  assert.equal(await fri.locator('.shift-note').textContent(), '18:00–02:00 (termina no dia seguinte)');
  assert.equal(await reloaded.locator('fieldset.exception').nth(0).getByLabel('Data', { exact: true }).inputValue(), '2026-12-25');
  const eveAgain = reloaded.locator('fieldset.exception').nth(1);
  assert.ok(!(await eveAgain.getByLabel('Fechado o dia todo').isChecked()));
  assert.equal(await eveAgain.getByLabel('Fecha', { exact: true }).inputValue(), '21:00');
  assert.equal(await reloaded.locator('fieldset.zone').getByLabel('Taxa (R$)').inputValue(), '7,50');
  assert.equal(await reloaded.locator('fieldset.zone').getByLabel('Bairros atendidos').inputValue(), 'Vila Mariana, Moema, Saúde');
  assert.equal(await reloaded.getByLabel('Chave Pix', { exact: true }).inputValue(), '12345678000195');
  assert.equal(await reloaded.getByLabel('Nome da loja (como os clientes conhecem)').inputValue(), 'Pizzaria Bella');
  assert.ok(!(await reloaded.getByLabel('Cartão na entrega').isChecked()));
});

test('/loja: the status line says whether the store is open and when it closes or opens', { timeout: 60000 }, async () => {
  const zone = (await pageFetch(page, 'GET', `/api/client/${storeId}/config`)).body.timezone;
  const profile = (await pageFetch(page, 'GET', `/api/client/${storeId}/profile`)).body;
  const status = page.locator('.store-status');
  const withWeekly = async (weekly, exceptions = []) => {
    const { address, closedMessage, delivery, payments } = profile;
    const answer = await pageFetch(page, 'PUT', `/api/client/${storeId}/profile`, {
      address, closedMessage, delivery, payments, hours: { weekly, exceptions },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    await page.reload();
    await eventually(async () => ['open', 'closed'].includes(await status.getAttribute('data-state')), 5000, 'the status line');
    return status.textContent();
  };
  const none = { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] };

  // Open all day today (but closed on the next days): "fecha às 23:59" unless it is that minute.
  const today = dayInZone(0, zone);
  const open = await withWeekly({ ...none, [today.key]: [{ open: '00:00', close: '23:59' }] });
  const live = (await pageFetch(page, 'GET', `/api/client/${storeId}/status`)).body;
  if (live.open) assert.equal(open, 'Aberto agora — fecha às 23:59');
  await shoot(page, '16-loja-status');

  // Closed today (an exception), open three days from now at 18:00.
  const later = dayInZone(3, zone);
  const closed = await withWeekly({ ...none, [later.key]: [{ open: '18:00', close: '02:00' }] },
    [{ date: today.iso, intervals: [] }]);
  assert.equal(closed, `Fechado — abre ${later.weekday} às 18:00`);
  assert.equal(await status.getAttribute('data-state'), 'closed');

  const never = await withWeekly(none);
  assert.equal(never, 'Fechado — nenhum horário de abertura cadastrado');
  await withWeekly(profile.hours.weekly, profile.hours.exceptions);
});

test('/loja: a field the API refuses shows its pt-BR message next to that field', { timeout: 60000 }, async () => {
  const form = page.getByRole('form', { name: 'Dados da loja' });
  await eventually(async () => (await form.getAttribute('aria-busy')) === 'false', 5000, 'the profile');
  const key = form.getByLabel('Chave Pix', { exact: true });
  await key.fill('12345678000100'); // wrong check digits
  const refused = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/profile'));
  await form.getByRole('button', { name: 'Salvar dados da loja' }).click();
  const answer = await refused;
  assert.equal(answer.status(), 400);
  const { error } = await answer.json();
  assert.equal(error.code, 'validation_error');
  assert.equal(error.field, 'payments.pix.key');
  const shown = form.locator('[data-error-for="payments.pix.key"]');
  await eventually(async () => /^Chave Pix inválida para o tipo escolhido/.test(await shown.textContent()), 5000, 'the pt-BR Pix error');
  assert.equal(await key.getAttribute('aria-invalid'), 'true');
  assert.ok(!(await page.locator('main').innerText()).includes(error.message));

  // A zone's fee the console can't read stays on the page with its own message.
  await key.fill('12345678000195');
  await form.locator('fieldset.zone').getByLabel('Taxa (R$)').fill('sete');
  await form.getByRole('button', { name: 'Salvar dados da loja' }).click();
  await eventually(async () => /^Valor inválido/.test(await form.locator('[data-error-for="delivery.zones[0].feeCents"]').textContent()), 5000, 'the local fee error');
  await shoot(page, '17-loja-invalid');
  const stored = (await pageFetch(page, 'GET', `/api/client/${storeId}/profile`)).body;
  assert.equal(stored.payments.pix.key, '12345678000195', 'nothing changed');
  assert.equal(stored.delivery.zones[0].feeCents, 750);
});

test('/loja: alert contacts and the AI budget are saved, refused in pt-BR when wrong, and kept by other edits', { timeout: 60000 }, async () => {
  const form = page.getByRole('form', { name: 'Dados da loja' });
  await form.locator('fieldset.zone').getByLabel('Taxa (R$)').fill('7,50');
  const emails = form.getByLabel('E-mails para alertas (um por linha)');
  await emails.fill('dono@pizzaria');
  await form.getByRole('button', { name: 'Salvar dados da loja' }).click();
  await eventually(async () => (await page.locator('main').innerText()).includes('E-mail inválido'), 5000, 'the pt-BR e-mail error');
  await emails.fill('dono@pizzaria.com.br');
  await form.getByLabel('Celulares para alertas no WhatsApp (um por linha)').fill('+5511987654321');
  await form.getByLabel('Orçamento mensal de IA em US$ (opcional)').fill('12,50');
  const saved = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/profile'));
  await form.getByRole('button', { name: 'Salvar dados da loja' }).click();
  assert.equal((await saved).status(), 200);
  const stored = (await pageFetch(page, 'GET', `/api/client/${storeId}/profile`)).body;
  assert.deepEqual(stored.alerts, { emails: ['dono@pizzaria.com.br'], phones: ['+5511987654321'] });
  assert.equal(stored.aiBudgetMicros, 12_500_000);
  assert.equal(stored.delivery.zones[0].feeCents, 750, 'the rest of the profile as it was');
  // After a reload, the page shows them again, and a save of another field keeps them.
  await page.reload();
  await eventually(async () => (await form.getAttribute('aria-busy')) === 'false', 5000, 'the profile');
  assert.equal(await form.getByLabel('Orçamento mensal de IA em US$ (opcional)').inputValue(), '12,5');
  assert.equal(await emails.inputValue(), 'dono@pizzaria.com.br');
  await form.getByLabel('Endereço', { exact: true }).fill('Rua das Flores, 10');
  const again = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/profile'));
  await form.getByRole('button', { name: 'Salvar dados da loja' }).click();
  assert.equal((await again).status(), 200);
  const after = (await pageFetch(page, 'GET', `/api/client/${storeId}/profile`)).body;
  assert.deepEqual(after.alerts, stored.alerts);
  assert.equal(after.aiBudgetMicros, 12_500_000);
  await assertNoEnglish(page, '/loja alerts');
  await shoot(page, '17b-loja-alerts');
});

/** Writes in slot 1 as a simulated customer (the dev simulator's route). */
async function customerSays(from, text) {
  const response = await fetch(`${base}/dev/simulator/${storeId}/1/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from, text }),
  });
  assert.equal(response.status, 200, await response.text());
}

const INBOX_CUSTOMER = '5511977770001';

test('/conversas: the chat list shows the customer, unread count and who answers; two screens at 360 px', { timeout: 60000 }, async () => {
  // The settings tests above may have switched the attendant off: on, answering at once.
  const on = await pageFetch(page, 'PUT', `/api/client/${storeId}/config`, { botEnabled: true, debounceSeconds: 0 });
  assert.equal(on.status, 200, JSON.stringify(on.body));
  await customerSays(INBOX_CUSTOMER, 'Quero uma pizza grande');
  await page.getByRole('link', { name: 'Conversas' }).click();
  await page.waitForURL(`${base}/conversas`);
  const item = page.locator(`li.chat[data-chat-id="w1:${INBOX_CUSTOMER}"]`);
  await item.waitFor();
  assert.match(await item.innerText(), /\+5511977770001/);
  assert.match(await item.innerText(), /atendente/);
  await eventually(async () => (await item.locator('.unread').count()) === 1, 5000, 'an unread count');
  await shoot(page, '20-conversas-list');
  await item.getByRole('button').click();
  const messages = page.getByRole('list', { name: 'Mensagens' });
  await messages.locator('.msg-customer', { hasText: 'Quero uma pizza grande' }).waitFor();
  await messages.locator('.msg-bot').first().waitFor({ timeout: 15000 });
  // At 360 px the conversation replaces the list; the back button brings it again.
  assert.ok(await page.locator('.inbox-list').isHidden(), 'the list is hidden while a chat is open at 360 px');
  await shoot(page, '21-conversas-chat');
  await eventually(async () => (await pageFetch(page, 'GET', `/api/whatsapp/${storeId}/chats`)).body.data[0].unread === 0, 5000, 'opening the chat reads it');
});

test('/conversas: the owner answers from the console; the customer gets it and the attendant pauses', { timeout: 60000 }, async () => {
  await page.getByLabel('Sua mensagem').fill('Oi! Aqui é o dono, a grande sai em 30 minutos.');
  await page.getByRole('button', { name: 'Enviar' }).click();
  const messages = page.getByRole('list', { name: 'Mensagens' });
  await messages.locator('.msg-owner', { hasText: 'Aqui é o dono' }).waitFor();
  await eventually(async () => /você responde até/.test(await page.locator('.chat-head .badge').textContent()), 5000, 'the attendant paused');
  await eventually(async () => {
    const out = await (await fetch(`${base}/dev/simulator/${storeId}/1/outbox?chat=${INBOX_CUSTOMER}`)).json();
    return out.data.filter((m) => m.text.includes('Aqui é o dono')).length === 1;
  }, 10000, 'the message on the customer\'s phone, once');
  await eventually(async () => /enviada/.test(await messages.locator('.msg-owner').last().innerText()), 10000, 'delivery status "enviada"');
  // Live: the customer's next message shows up without a reload, within 2 s of polling.
  const before = Date.now();
  await customerSays(INBOX_CUSTOMER, 'Perfeito, obrigado!');
  await messages.locator('.msg-customer', { hasText: 'Perfeito, obrigado!' }).waitFor({ timeout: 4000 });
  const took = Date.now() - before;
  assert.ok(took <= 3000, `the new message took ${took} ms to appear`);
  // Paused: the attendant didn't answer it.
  await sleep(1500);
  assert.equal(await messages.locator('.msg-bot').count(), 1, 'no reply while the owner has the chat');
  await shoot(page, '22-conversas-owner');
});

test('/conversas: resume and switch off the attendant; search by number', { timeout: 60000 }, async () => {
  await page.getByRole('button', { name: 'Retomar atendente' }).click();
  await eventually(async () => (await page.locator('.chat-head .badge').textContent()) === 'responde: atendente', 5000, 'resumed');
  await page.getByRole('button', { name: 'Desligar nesta conversa' }).click();
  await eventually(async () => (await page.locator('.chat-head .badge').textContent()) === 'responde: pausado', 5000, 'off');
  const chats = (await pageFetch(page, 'GET', `/api/whatsapp/${storeId}/chats`)).body.data;
  assert.equal(chats.find((c) => c.chatId === `w1:${INBOX_CUSTOMER}`).bot, 'off');
  await page.getByRole('button', { name: '← Conversas' }).click();
  const search = page.getByLabel('Buscar conversa');
  await search.fill('97777-0001');
  await eventually(async () => (await page.locator('li.chat').count()) === 1, 5000, 'one chat found');
  await search.fill('00000000');
  await page.getByText('Nenhuma conversa encontrada.').waitFor();
  await search.fill('');
  await shoot(page, '23-conversas-search');
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
  watchApiMessages(other);
  try {
    const bobPage = await other.newPage();
    await signIn(bobPage, bob);
    await bobPage.locator('.empty').waitFor();
    const html = async () => bobPage.content();
    assert.ok(!(await html()).includes(connectionName));
    assert.ok(!(await html()).includes(storeId));
    await shoot(bobPage, '10-other-user-dashboard');
    const links = { '/connections': 'Conexões', '/whatsapp-tools': 'Atendente', '/cardapio': 'Cardápio', '/loja': 'Loja', '/pedidos': 'Pedidos' };
    for (const [pagePath, link] of Object.entries(links)) {
      await bobPage.getByRole('link', { name: link, exact: true }).click();
      await bobPage.waitForURL(`${base}${pagePath}`);
      await bobPage.locator('.empty').waitFor();
      assert.ok(!(await html()).includes(connectionName), pagePath);
      assert.ok(!(await html()).includes(storeId), pagePath);
    }
    // Even asked directly with Bob's token, Alice's store isn't there.
    for (const urlPath of [`/api/client/${storeId}/config`, `/api/whatsapp/${storeId}/sessions`,
      `/api/client/${storeId}/menu`, `/api/client/${storeId}/profile`, `/api/client/${storeId}/status`]) {
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
