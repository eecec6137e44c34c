// Browser test of the kitchen's order board (/pedidos) on a real `platefull dev` (its own,
// with a temp data dir) whose model is a fake OpenAI-compatible server started here: it
// answers with the cart tools' calls, so a customer writing through the simulator places a
// real order (summary, confirmation, placing: all the stack's own code). The board must
// show it within 2 seconds with the new-order chime, move it along in one click (the
// customer is told), and show its details with the chat link.
//
// Environment: as console.test.mjs (PLATEFULL_BIN, CHROMIUM_PATH, PLATEFULL_TEST_ARTIFACTS).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  artifacts, eventually, startFakeModel, startStack, toolCalls,
} from './stack.mjs';

const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CUSTOMER = '5511999990000';

let stack;
let fakeModel;
let dataDir;
let base;
let browser;
let page;
const violations = [];

/** What the fake model answers next: tool calls or a text, in order. */
const answers = [];

/** Calls the API with the page's session. */
function call(method, urlPath, body) {
  return page.evaluate(async ({ method, urlPath, body }) => {
    const { token } = JSON.parse(sessionStorage.getItem('platefull.session'));
    const response = await fetch(urlPath, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: await response.json().catch(() => null) };
  }, { method, urlPath, body });
}

async function expectOk(answer, what) {
  const { status, body } = await answer;
  assert.ok(status >= 200 && status < 300, `${what}: ${status} ${JSON.stringify(body)}`);
  return body;
}

// The smallest PNG (1×1), as a photo of a receipt.
const ONE_PIXEL_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

async function customerSays(storeId, text, id) {
  const response = await fetch(`${base}/dev/simulator/${storeId}/1/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: CUSTOMER, text, id }),
  });
  assert.equal(response.status, 200, await response.text());
}

async function outbox(storeId, chat) {
  const response = await fetch(`${base}/dev/simulator/${storeId}/1/outbox?chat=${chat}`);
  return (await response.json()).data;
}

before(async () => {
  fakeModel = await startFakeModel(answers);
  dataDir = mkdtempSync(path.join(tmpdir(), 'platefull-orders-'));
  stack = await startStack({ dataDir, modelUrl: fakeModel.url, logName: 'platefull-dev-orders.log' });
  ({ base } = stack);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--lang=pt-BR', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'pt-BR' });
  context.setDefaultTimeout(10000);
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => { console.error(`CSP ${e.violatedDirective} ${e.blockedURI}`); });
  });
  context.on('page', (p) => {
    p.on('console', (msg) => { if (/CSP|Content Security Policy/i.test(msg.text())) violations.push(msg.text()); });
    p.on('pageerror', (err) => violations.push(`page error: ${err.message}`));
  });
  page = await context.newPage();
});

after(async () => {
  try {
    if (browser) await browser.close();
  } finally {
    if (stack) await stack.stop();
    if (fakeModel) fakeModel.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a new order appears on the board within 2 s with a chime, moves on in one click and shows its details', { timeout: 120000 }, async () => {
  await page.goto(`${base}/`);
  const input = page.getByLabel('Identificador do usuário');
  await input.fill(`kitchen-${Math.random().toString(36).slice(2, 8)}`);
  await input.press('Enter');
  await page.waitForURL(`${base}/dashboard`);

  // A store with a linked (simulated) number, a menu, a profile with Pix, replies at once.
  const created = await expectOk(call('POST', '/api/user-apis', { type: 'whatsapp', name: 'Cozinha Teste' }), 'create the connection');
  const { storeId } = created;
  await expectOk(call('PUT', `/api/client/${storeId}/config`, { debounceSeconds: 0, botName: 'Maria' }), 'config');
  await expectOk(call('PUT', `/api/client/${storeId}/menu`, {
    categories: [{ id: 'pizzas', name: 'Pizzas', items: [{ id: 'calabresa', name: 'Calabresa', priceCents: 4590 }] }],
  }), 'menu');
  const always = [{ open: '00:00', close: '00:00' }];
  await expectOk(call('PUT', `/api/client/${storeId}/profile`, {
    hours: { weekly: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, always])), exceptions: [] },
    delivery: { pickup: true, zones: [] },
    payments: { pix: { key: 'pix@cozinha.com.br', keyType: 'email', merchantName: 'Cozinha Teste', merchantCity: 'Sao Paulo' }, cash: true, card: false },
  }), 'profile');
  await expectOk(call('POST', `/api/whatsapp/${storeId}/1/start`), 'start slot 1');
  const pairing = await eventually(async () => {
    const answer = await call('GET', `/dev/simulator/${storeId}/1/pairing`);
    return answer.status === 200 && answer.body;
  }, 15000, 'the slot to show its QR');
  const paired = await fetch(`${base}/dev/simulator/${storeId}/1/pair?code=${encodeURIComponent(pairing.code)}`, { method: 'POST' });
  assert.equal(paired.status, 200, await paired.text());
  await eventually(async () => {
    const slots = await call('GET', `/api/whatsapp/${storeId}/sessions`);
    return slots.body.data.some((s) => s.slot === 1 && s.status === 'connected');
  }, 15000, 'slot 1 to connect');

  // The board, empty, before the order.
  await page.getByRole('link', { name: 'Pedidos' }).click();
  await page.waitForURL(`${base}/pedidos`);
  await page.getByLabel('Conexão', { exact: true }).selectOption(storeId);
  const board = page.locator('.order-board[data-loaded="true"]');
  await board.waitFor();
  assert.equal(await page.locator('.order-card').count(), 0);
  assert.equal(await page.locator('.orders').getAttribute('data-sounds'), '0');

  // The customer orders (pickup, Pix) and confirms: the stack places the order.
  answers.push(
    toolCalls([['add_to_cart', { itemId: 'calabresa', quantity: 2 }], ['set_fulfillment', { mode: 'pickup' }], ['set_payment', { method: 'pix' }]]),
    toolCalls([['request_confirmation', {}]]),
    { role: 'assistant', content: 'Confere o resumo:' },
  );
  await customerSays(storeId, 'duas calabresas pra retirar, pago no pix', 'K1');
  await eventually(async () => (await outbox(storeId, CUSTOMER)).some((m) => /Resumo do pedido/.test(m.text)), 15000, 'the summary');
  answers.push(toolCalls([['place_order', {}]]), { role: 'assistant', content: 'Pedido anotado!' });
  await customerSays(storeId, 'pode mandar', 'K2');
  // From the moment the order exists (as the API lists it), the board shows it within 2 s.
  await eventually(async () => (await call('GET', `/api/client/${storeId}/orders`)).body.data.length === 1, 15000, 'the order to be placed');
  const placedAt = Date.now();
  const card = page.locator('.order-column[data-column="new"] .order-card');
  await card.waitFor({ timeout: 5000 });
  const shownAfter = Date.now() - placedAt;
  assert.ok(shownAfter <= 2000, `the board showed the order ${shownAfter} ms after it was placed`);
  const confirmed = await eventually(async () => {
    const sent = await outbox(storeId, CUSTOMER);
    return sent.some((m) => m.image) && sent;
  }, 15000, 'the confirmation and its QR image');
  await eventually(async () => (await page.locator('.orders').getAttribute('data-sounds')) === '1', 3000, 'the new-order chime');
  assert.match(await page.locator('[role="status"]').filter({ hasText: 'Novo pedido' }).first().textContent(), /Novo pedido!/);
  assert.match(await card.textContent(), /#0001/);
  assert.match(await card.textContent(), /R\$ 91,80/);
  // The Pix confirmation came with the QR image.
  assert.ok(confirmed.some((m) => m.image && m.image.mimeType === 'image/png' && /QR Code Pix do pedido #0001/.test(m.text)), JSON.stringify(confirmed.map((m) => m.text)));

  // The customer sends a photo of the Pix receipt: the card and its details say so, for
  // the owner to check; the order is not marked paid by itself.
  const receipt = await fetch(`${base}/dev/simulator/${storeId}/1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: CUSTOMER, id: 'K3', image: { base64: ONE_PIXEL_PNG, mimetype: 'image/png' } }),
  });
  assert.equal(receipt.status, 200, await receipt.text());
  await eventually(async () => /comprovante recebido/.test(await card.textContent()), 5000, 'the receipt line on the card');
  await card.getByText('Detalhes').click();
  assert.equal(await card.locator('.order-proof').textContent(), 'Comprovante recebido (confira)');
  assert.equal(await card.getByRole('button', { name: 'Marcar como pago' }).count(), 1, 'still to be marked paid');
  await card.getByText('Detalhes').click();
  await eventually(async () => (await outbox(storeId, CUSTOMER)).some((m) => /Recebemos seu comprovante/.test(m.text)), 10000, 'the receipt acknowledged');
  const toldBefore = (await outbox(storeId, CUSTOMER)).length;

  // One click: accepted; the customer is told.
  await card.getByRole('button', { name: /^Aceitar/ }).click();
  const accepted = page.locator('.order-column[data-column="accepted"] .order-card');
  await accepted.waitFor({ timeout: 5000 });
  await eventually(async () => (await outbox(storeId, CUSTOMER)).length > toldBefore, 10000, 'the customer to be told');
  // Details: the lines, the payment and the chat link.
  await accepted.getByText('Detalhes').click();
  const details = accepted.locator('.order-details');
  assert.match(await details.textContent(), /2× Calabresa/);
  assert.match(await details.textContent(), /Pix/);
  assert.equal(await details.locator('a.chat-link').getAttribute('href'), `https://wa.me/${CUSTOMER}`);
  // Cancelling asks for the reason first.
  await accepted.getByRole('button', { name: /^Cancelar/ }).click();
  const dialog = page.getByRole('dialog', { name: 'Cancelar pedido' });
  await dialog.getByLabel('Motivo do cancelamento').fill('Acabou a calabresa');
  await dialog.getByRole('button', { name: 'Cancelar pedido' }).click();
  await page.locator('.order-column[data-column="done"] .order-card[data-status="cancelled"]').waitFor({ timeout: 5000 });
  const order = await call('GET', `/api/client/${storeId}/orders`);
  assert.equal(order.body.data[0].status, 'cancelled');
  assert.equal(order.body.data[0].history.at(-1).reason, 'Acabou a calabresa');
  await page.screenshot({ path: path.join(artifacts, '11-pedidos-1280.png'), fullPage: true });
  assert.deepEqual(violations, []);
});
