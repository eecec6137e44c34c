// Issue 14's crash promise on the real binary: `platefull dev` is killed with SIGKILL after
// `place_order` has written the order and before the reply that confirms it goes out (the
// fake model holds the turn's next call, the one that would write the reply), then started
// again on the same data dir. The turn comes back from the durable queue: the customer gets
// exactly one confirmation and the store has exactly one order, #0001.
//
// No browser: the API with a dev token, the simulator's routes. Environment: PLATEFULL_BIN,
// PLATEFULL_TEST_ARTIFACTS (see stack.mjs).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  bin, eventually, startFakeModel, startStack, toolCalls,
} from './stack.mjs';

const CUSTOMER = '5511999990000';
const CONFIRMED = /Pedido \*#0001\* confirmado/;

const answers = [];
let holdNext = false;
let held;
const placed = new Promise((resolve) => { held = resolve; });
// While armed, the call that follows `place_order`'s result is held unanswered: the order
// is written, the reply not yet.
const fakeModel = await startFakeModel(answers, (body, res) => {
  const last = (body.messages || []).at(-1);
  if (!holdNext || !last || last.role !== 'tool' || !/"orderId"/.test(last.content || '')) return false;
  holdNext = false;
  held({ result: JSON.parse(last.content), res });
  return true;
});
const dataDir = mkdtempSync(path.join(tmpdir(), 'platefull-crash-'));
let stack;

after(async () => {
  if (stack) await stack.stop();
  fakeModel.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function api(method, urlPath, token, body) {
  const response = await fetch(`${stack.base}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = await response.json().catch(() => null);
  assert.ok(response.ok, `${method} ${urlPath}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

async function simulator(method, urlPath, body) {
  const response = await fetch(`${stack.base}/dev/simulator${urlPath}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(response.ok, `${method} ${urlPath}: ${response.status} ${await response.clone().text()}`);
  return response.json().catch(() => null);
}

const outbox = async (storeId) => (await simulator('GET', `/${storeId}/1/outbox?chat=${CUSTOMER}`)).data;

async function connected(storeId, key) {
  await eventually(async () => {
    const slots = await api('GET', `/api/whatsapp/${storeId}/sessions`, key);
    return slots.data.some((s) => s.slot === 1 && s.status === 'connected');
  }, 30000, 'slot 1 to connect');
}

test('killed between placing the order and confirming it, the stack confirms it once after a restart', { timeout: 180000 }, async () => {
  stack = await startStack({ dataDir, modelUrl: fakeModel.url, logName: 'platefull-dev-crash.log' });
  const signed = spawnSync(bin, ['dev-token', '--user', 'crash-owner', '--data-dir', dataDir], { encoding: 'utf8' });
  assert.equal(signed.status, 0, signed.stderr);
  const owner = signed.stdout.trim().split('\n').at(-1);
  const { storeId, apiKey: key } = await api('POST', '/api/user-apis', owner, { type: 'whatsapp', name: 'Pizzaria Crash' });
  await api('PUT', `/api/client/${storeId}/config`, key, { debounceSeconds: 0, botName: 'Maria' });
  await api('PUT', `/api/client/${storeId}/menu`, key, {
    categories: [{ id: 'pizzas', name: 'Pizzas', items: [{ id: 'calabresa', name: 'Calabresa', priceCents: 4590 }] }],
  });
  const always = [{ open: '00:00', close: '00:00' }];
  await api('PUT', `/api/client/${storeId}/profile`, key, {
    hours: { weekly: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, always])), exceptions: [] },
    delivery: { pickup: true, zones: [] },
    payments: { cash: true, card: false },
  });
  await api('POST', `/api/whatsapp/${storeId}/1/start`, key);
  const pairing = await eventually(async () => {
    const response = await fetch(`${stack.base}/dev/simulator/${storeId}/1/pairing`, { headers: { authorization: `Bearer ${key}` } });
    return response.status === 200 && response.json();
  }, 15000, 'the slot to show its QR');
  await simulator('POST', `/${storeId}/1/pair?code=${encodeURIComponent(pairing.code)}`);
  await connected(storeId, key);

  // The cart and its summary.
  answers.push(
    toolCalls([['add_to_cart', { itemId: 'calabresa', quantity: 1 }], ['set_fulfillment', { mode: 'pickup' }], ['set_payment', { method: 'cash' }]]),
    toolCalls([['request_confirmation', {}]]),
    { role: 'assistant', content: 'Confere o resumo:' },
  );
  await simulator('POST', `/${storeId}/1/messages`, { from: CUSTOMER, text: 'uma calabresa pra retirar, pago em dinheiro', id: 'C1' });
  await eventually(async () => (await outbox(storeId)).some((m) => /Resumo do pedido/.test(m.text)), 15000, 'the summary');

  // "pode mandar": the model places the order; its next call is held, and the stack killed.
  answers.push(toolCalls([['place_order', {}]]));
  holdNext = true;
  await simulator('POST', `/${storeId}/1/messages`, { from: CUSTOMER, text: 'pode mandar', id: 'C2' });
  const { result, res } = await eventually(() => Promise.race([placed, new Promise((r) => setTimeout(r, 200))]), 20000, 'place_order to run');
  assert.equal(result.number, '#0001', JSON.stringify(result));
  const before = await api('GET', `/api/client/${storeId}/orders`, key);
  assert.equal(before.data.length, 1, 'the order is written before the kill');
  assert.ok(!(await outbox(storeId)).some((m) => CONFIRMED.test(m.text)), 'no confirmation before the kill');
  await stack.kill();
  res.destroy();

  // Started again on the same data dir: the turn comes back and the model places again.
  answers.push(toolCalls([['place_order', {}]]), { role: 'assistant', content: 'Prontinho!' });
  stack = await startStack({ dataDir, modelUrl: fakeModel.url, logName: 'platefull-dev-crash.log' });
  await connected(storeId, key);
  await eventually(async () => (await outbox(storeId)).some((m) => CONFIRMED.test(m.text)), 120000, 'the confirmation after the restart');
  await new Promise((r) => setTimeout(r, 3000));
  const confirmations = (await outbox(storeId)).filter((m) => CONFIRMED.test(m.text));
  assert.equal(confirmations.length, 1, JSON.stringify(confirmations));
  const orders = await api('GET', `/api/client/${storeId}/orders`, key);
  assert.deepEqual(orders.data.map((o) => o.number), [1], 'one order, #0001');
  assert.equal(orders.data[0].id, before.data[0].id, 'the same order');
});
