// Tests of the console's pure helpers, without a browser: money as typed in Brazil, the
// pt-BR wording of API outcomes (by code, field path, CSV column, test result), and the
// store's status line. Run with the browser tests by scripts/browser-tests.sh.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCents, parseReais, reais } from '../assets/money.js';
import {
  csvRowMessage, errorMessage, fieldMessage, fieldPattern, FIELD_MESSAGES, testResultMessage,
} from '../assets/messages.js';
import { describeShift, statusText, when } from '../assets/pages/store.js';
import { bars, dayLabel, dollars, incidentText } from '../assets/pages/usage.js';

test('prices typed as in Brazil become centavos, and back', () => {
  const cases = [['45,90', 4590], ['45.90', 4590], ['45', 4500], ['R$ 1.234,56', 123456], ['1234.5', 123450],
    ['1.234', 123400], ['0,5', 50], [' 7,50 ', 750], ['100.000,00', 10000000]];
  for (const [text, cents] of cases) assert.equal(parseReais(text), cents, text);
  assert.equal(parseReais(''), null);
  for (const bad of ['abc', '12,345', '1,2,3', '-5', '4 5', '45,9x']) assert.ok(Number.isNaN(parseReais(bad)), bad);
  assert.equal(formatCents(4590), '45,90');
  assert.equal(formatCents(123456), '1.234,56');
  assert.equal(formatCents(0), '0,00');
  assert.equal(reais(650), 'R$ 6,50');
});

test('a field path picks its message: indexes and weekdays generalised, else its last name', () => {
  assert.equal(fieldPattern('categories[2].items[0].priceCents'), 'categories[].items[].priceCents');
  assert.equal(fieldPattern('hours.weekly.fri[1].close'), 'hours.weekly.{day}[].close');
  assert.equal(fieldPattern('hours.weekly.sun'), 'hours.weekly.{day}');
  assert.match(fieldMessage('categories[2].items[0].priceCents'), /^Preço inválido/);
  assert.match(fieldMessage('categories[0].items[3].optionGroups[1].options[2].name'), /nome da opção/);
  assert.match(fieldMessage('hours.weekly.fri[0].open'), /HH:MM/);
  assert.match(fieldMessage('delivery.zones[1].neighborhoods[4]'), /Bairro repetido/);
  assert.equal(fieldMessage('messageLimit'), 'Informe um número inteiro de 1 a 200 mensagens.');
  assert.equal(fieldMessage('whatever.priceCents'), FIELD_MESSAGES.priceCents);
  assert.equal(fieldMessage('no.such.field'), 'Valor inválido neste campo.');
});

test('errors are worded from code, field and status, never from the English message', () => {
  const english = 'messageLimit must be between 1 and 200 messages (got 0)';
  const shown = errorMessage(400, { code: 'validation_error', field: 'messageLimit', message: english });
  assert.equal(shown, 'Informe um número inteiro de 1 a 200 mensagens.');
  assert.equal(errorMessage(404, { code: 'not_found', message: 'no such route' }), 'Não encontrado: talvez tenha sido removido.');
  for (const [status, error] of [[400, { code: 'brand_new_code', message: 'Some English text' }],
    [500, { message: 'boom' }], [418, {}], [0, { code: 'network' }]]) {
    const text = errorMessage(status, error);
    assert.ok(text && !text.includes(error.message || '\u0000'), `${status} ${JSON.stringify(error)} → ${text}`);
  }
});

test('CSV rows: by column, the header on row 1, the file shape without a column', () => {
  assert.match(csvRowMessage({ row: 3, field: 'price', message: '"caro" is not a price' }), /^Linha 3, coluna “preço”: preço inválido/);
  assert.match(csvRowMessage({ row: 1, field: 'price', message: 'the header has no "price" column' }), /^Linha 1 \(cabeçalho\): a coluna “preço” falta/);
  assert.match(csvRowMessage({ row: 1, field: 'tamanho', message: 'unknown column' }), /coluna “tamanho” não é conhecida/);
  assert.match(csvRowMessage({ row: 4, field: '', message: 'a quoted field is never closed' }), /^Linha 4: o arquivo não pôde ser lido/);
  assert.ok(!csvRowMessage({ row: 4, field: 'options', message: 'bad group' }).includes('bad group'));
});

test('"Testar conexão" results in pt-BR from result and counts', () => {
  assert.equal(testResultMessage({ result: 'whatsapp_connected', connected: 1, total: 3 }), '1 de 3 números de WhatsApp está conectado.');
  assert.equal(testResultMessage({ result: 'whatsapp_connected', connected: 2, total: 3 }), '2 de 3 números de WhatsApp estão conectados.');
  assert.match(testResultMessage({ result: 'whatsapp_not_linked', connected: 0, total: 3 }), /^Nenhum número de WhatsApp conectado/);
  assert.equal(testResultMessage({ result: 'saipos_token_accepted', message: 'Saipos accepted the token' }), 'A Saipos aceitou o token.');
  assert.match(testResultMessage({ result: 'saipos_rejected_token' }), /recusou o token/);
  assert.equal(testResultMessage({ success: false, message: 'something new' }), 'O teste da conexão falhou.');
});

test('shifts past midnight and the status line, in the store\'s zone', () => {
  assert.equal(describeShift({ open: '18:00', close: '02:00' }), '18:00–02:00 (termina no dia seguinte)');
  assert.equal(describeShift({ open: '18:00', close: '23:30' }), '18:00–23:30');
  assert.match(describeShift({ open: '00:00', close: '00:00' }), /24 horas/);
  const zone = 'America/Sao_Paulo';
  const now = new Date('2026-12-02T15:00:00-03:00'); // a Wednesday afternoon
  assert.equal(when('2026-12-02T18:00:00-03:00', zone, now), 'hoje às 18:00');
  assert.equal(when('2026-12-03T02:00:00-03:00', zone, now), 'amanhã às 02:00');
  assert.equal(when('2026-12-04T18:00:00-03:00', zone, now), 'sexta às 18:00');
  assert.equal(when('2026-12-25T18:00:00-03:00', zone, now), '25/12 às 18:00');
  // The same instant read in another zone.
  assert.equal(when('2026-12-02T22:30:00-03:00', 'America/Manaus', now), 'hoje às 21:30');
  assert.equal(statusText({ open: true, closesAt: '2026-12-02T23:30:00-03:00' }, zone, now), 'Aberto agora — fecha às 23:30');
  assert.equal(statusText({ open: true, closesAt: '2026-12-03T02:00:00-03:00' }, zone, now), 'Aberto agora — fecha amanhã às 02:00');
  assert.equal(statusText({ open: false, opensAt: '2026-12-04T18:00:00-03:00' }, zone, now), 'Fechado — abre sexta às 18:00');
  assert.equal(statusText({ open: false }, zone, now), 'Fechado — nenhum horário de abertura cadastrado');
});

test('the usage chart scales its bars to the busiest day, and alerts read in pt-BR', () => {
  const days = [
    { date: '2026-12-01', customerMessages: 10, replies: 5 },
    { date: '2026-12-02', customerMessages: 0, replies: 0 },
    { date: '2026-12-03', customerMessages: 4, replies: 4 },
  ];
  const drawn = bars(days, 300, 100);
  assert.equal(drawn.length, 3);
  assert.equal(drawn[0].messages.h, 100);
  assert.equal(drawn[0].messages.y, 0);
  assert.equal(drawn[0].replies.h, 50);
  assert.equal(drawn[1].messages.h, 0);
  assert.equal(drawn[2].replies.h, 40);
  assert.ok(drawn[1].x > drawn[0].x && drawn[2].x > drawn[1].x);
  // No traffic at all: flat bars, no division by zero.
  assert.ok(bars([{ date: '2026-12-01', customerMessages: 0, replies: 0 }], 10, 10).every((b) => b.messages.h === 0));
  assert.equal(dayLabel('2026-12-06'), '06/12');
  assert.equal(dollars(1_234_567), 'US$ 1,23');
  assert.equal(incidentText({ id: 'slot2', detail: 'desconectado pelo celular' }), 'Número 2 desconectado: desconectado pelo celular');
  assert.equal(incidentText({ id: 'budget80-1000000-2026-12', detail: 'x' }), '80% do orçamento mensal de IA: x');
  assert.match(incidentText({ id: 'attendant', detail: 'o modelo de IA não responde' }), /^Atendente automático/);
});

test('the order board offers only the documented transitions, by fulfilment mode', async () => {
  const { nextStatuses, orderNumber, today, STATUS_LABELS } = await import('../assets/pages/orders.js');
  assert.deepEqual(nextStatuses('new', 'delivery'), ['accepted', 'cancelled']);
  assert.deepEqual(nextStatuses('accepted', 'pickup'), ['preparing', 'cancelled']);
  assert.deepEqual(nextStatuses('preparing', 'delivery'), ['out_for_delivery', 'cancelled']);
  assert.deepEqual(nextStatuses('preparing', 'pickup'), ['ready_for_pickup', 'cancelled']);
  assert.deepEqual(nextStatuses('out_for_delivery', 'delivery'), ['delivered', 'cancelled']);
  assert.deepEqual(nextStatuses('delivered', 'delivery'), []);
  assert.deepEqual(nextStatuses('cancelled', 'pickup'), []);
  assert.equal(orderNumber(42), '#0042');
  assert.equal(STATUS_LABELS.out_for_delivery, 'Saiu para entrega');
  // 02:30 UTC is still the previous day in São Paulo (UTC-3).
  assert.equal(today('America/Sao_Paulo', new Date('2026-03-10T02:30:00Z')), '2026-03-09');
  assert.equal(today('UTC', new Date('2026-03-10T02:30:00Z')), '2026-03-10');
});
