// The Pix "copia e cola" our order confirmations carry, decoded by an independent
// implementation (the pix-utils package): its CRC16 checks, and it reads back the key, the
// amount, the txid (from the order id), the merchant name and city. The codes come from
// the platefull binary (`platefull pix-code`, the same function the bot uses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parsePix, hasError } from 'pix-utils';

const bin = process.env.PLATEFULL_BIN;

function code(args) {
  assert.ok(bin, 'PLATEFULL_BIN must point at the platefull binary');
  return execFileSync(bin, ['pix-code', ...args], { encoding: 'utf8' }).trim();
}

const cases = [
  { key: 'pix@pizzariax.com.br', name: 'Pizzaria X', city: 'Sao Paulo', cents: 7690, txid: '20261206-0001', amount: 76.9, tx: '202612060001' },
  { key: '+5511987654321', name: 'Cantina São João', city: 'Ribeirão Preto', cents: 100005, txid: '20261231-0042', amount: 1000.05, tx: '202612310042', shownName: 'Cantina Sao Joao', shownCity: 'Ribeirao Preto' },
  { key: '123e4567-e89b-12d3-a456-426614174000', name: 'A', city: 'Rio', cents: 1, txid: '20270101-9999', amount: 0.01, tx: '202701019999' },
];

for (const c of cases) {
  test(`a Pix code for ${c.key} decodes with the key, amount and txid`, () => {
    const brcode = code(['--key', c.key, '--name', c.name, '--city', c.city, '--amount-cents', String(c.cents), '--txid', c.txid]);
    const pix = parsePix(brcode);
    assert.ok(!hasError(pix), `pix-utils refused ${brcode}: ${JSON.stringify(pix)}`);
    assert.equal(pix.type, 'STATIC');
    assert.equal(pix.pixKey, c.key);
    assert.equal(pix.transactionAmount, c.amount);
    assert.equal(pix.txid, c.tx);
    assert.equal(pix.merchantName, c.shownName ?? c.name);
    assert.equal(pix.merchantCity, c.shownCity ?? c.city);
    assert.equal(pix.transactionCurrency, '986');
    assert.equal(pix.countryCode, 'BR');
    // A code with one character changed fails its CRC.
    const tampered = brcode.replace('5802BR', '5802BS');
    assert.ok(hasError(parsePix(tampered)), 'a tampered code must not decode');
  });
}
