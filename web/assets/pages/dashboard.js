// "/dashboard": the owner's APIs (WhatsApp connections and Saipos accounts): list with
// status, add (the new apiKey is shown once), test, rotate the key, remove, sales report;
// each WhatsApp connection with its open incidents and usage chart (usage.js).

import { api, enc } from '../api.js';
import { testResultMessage } from '../messages.js';
import { usagePanel } from './usage.js';
import {
  busy, clearErrors, confirmDialog, field, formatDate, h, money, showError, toast,
} from '../ui.js';

export const API_STATUS = { connected: 'conectado', disconnected: 'desconectado', error: 'erro' };
const TYPE_LABEL = { whatsapp: 'WhatsApp', saipos: 'Saipos' };

export function mount(main) {
  let alive = true;
  const list = h('div', { class: 'api-list', 'aria-live': 'polite', 'aria-busy': 'true' });
  const keyPanel = h('section', { class: 'card key-panel', hidden: true, 'aria-labelledby': 'key-title' });

  async function load() {
    try {
      const apis = await api('GET', '/api/user-apis');
      if (!alive) return;
      list.replaceChildren(...(apis.length ? apis.map(apiCard) : [
        h('p', { class: 'empty' }, 'Nenhuma API cadastrada ainda. Adicione uma conexão de WhatsApp ou uma conta Saipos acima.'),
      ]));
    } catch (err) {
      list.replaceChildren(h('p', { class: 'form-error' }, err.message));
    } finally {
      list.setAttribute('aria-busy', 'false');
    }
  }

  function showKey(name, apiKey) {
    const keyId = 'new-api-key';
    const input = h('input', {
      id: keyId, class: 'mono', readonly: true, value: apiKey, 'aria-describedby': 'key-warning',
    });
    const copy = h('button', { type: 'button', class: 'btn' }, 'Copiar');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(apiKey);
      } catch {
        input.select();
        document.execCommand('copy');
      }
      toast('Chave copiada.');
    });
    const done = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Já guardei a chave');
    done.addEventListener('click', () => {
      keyPanel.replaceChildren();
      keyPanel.hidden = true;
    });
    keyPanel.replaceChildren(
      h('h2', { id: 'key-title' }, `Chave de API de “${name}”`),
      h('p', { class: 'warning', id: 'key-warning' },
        'Copie e guarde esta chave agora: ela aparece só desta vez e não pode ser recuperada. ',
        'Se perder, gere uma nova (a antiga deixa de funcionar).'),
      h('label', { for: keyId }, 'Chave de API'),
      h('div', { class: 'copy-row' }, input, copy),
      h('div', { class: 'actions' }, done),
    );
    keyPanel.hidden = false;
    input.focus();
    input.select();
  }

  function apiCard(item) {
    const titleId = `api-${item.id}`;
    const result = h('p', { class: 'result', role: 'status' });
    const statusBadge = h('span', { class: `badge status-${item.status}` }, API_STATUS[item.status] || item.status);
    const details = h('dl', { class: 'details' },
      item.type === 'whatsapp' ? [h('dt', {}, 'storeId'), h('dd', { class: 'mono' }, item.storeId)] : null,
      h('dt', {}, item.type === 'whatsapp' ? 'Chave' : 'Token'), h('dd', { class: 'mono' }, item.apiKeyPreview),
      item.baseUrl ? [h('dt', {}, 'Endereço'), h('dd', { class: 'mono' }, item.baseUrl)] : null,
      h('dt', {}, 'Criada em'), h('dd', {}, formatDate(item.createdAt)));
    // The stored reason is the API's English text: the card says it in general terms.
    const reason = h('p', { class: 'reason' }, item.status === 'error'
      ? 'O último teste desta conexão falhou. Toque em “Testar conexão” para ver o motivo.'
      : '');

    const testBtn = h('button', { type: 'button', class: 'btn btn-small' }, 'Testar conexão');
    testBtn.addEventListener('click', () => busy(testBtn, async () => {
      result.textContent = 'Testando…';
      try {
        const outcome = await api('POST', `/api/user-apis/${enc(item.id)}/test`);
        result.textContent = testResultMessage(outcome);
        result.dataset.kind = outcome.success ? 'ok' : 'error';
        statusBadge.textContent = API_STATUS[outcome.status] || outcome.status;
        statusBadge.className = `badge status-${outcome.status}`;
        reason.textContent = '';
      } catch (err) {
        result.textContent = err.message;
        result.dataset.kind = 'error';
      }
    }));

    const actions = [testBtn];
    if (item.type === 'whatsapp') {
      const rotateBtn = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Gerar nova chave');
      rotateBtn.addEventListener('click', async () => {
        const ok = await confirmDialog({
          title: 'Gerar nova chave?',
          message: `A chave atual de “${item.name}” deixa de funcionar na hora. Sistemas que a usam precisarão da nova.`,
          confirm: 'Gerar nova chave',
        });
        if (!ok) return;
        await busy(rotateBtn, async () => {
          try {
            const rotated = await api('POST', `/api/user-apis/${enc(item.id)}/rotate-key`);
            showKey(rotated.name, rotated.apiKey);
            await load();
          } catch (err) {
            toast(err.message, 'error');
          }
        });
      });
      actions.push(rotateBtn, h('a', { class: 'btn btn-small btn-ghost', href: '/connections', 'data-link': true }, 'Números'));
    }
    const card = h('article', { class: 'card api-card', 'aria-labelledby': titleId, dataset: { apiId: item.id } });
    if (item.type === 'saipos') {
      const reportBtn = h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-expanded': 'false' }, 'Relatório de vendas');
      let panel = null;
      reportBtn.addEventListener('click', () => {
        if (panel) {
          panel.remove();
          panel = null;
          reportBtn.setAttribute('aria-expanded', 'false');
          return;
        }
        panel = reportPanel(item);
        card.append(panel);
        reportBtn.setAttribute('aria-expanded', 'true');
        panel.querySelector('input').focus();
      });
      actions.push(reportBtn);
    }
    const removeBtn = h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Remover');
    removeBtn.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Remover “${item.name}”?`,
        message: item.type === 'whatsapp'
          ? 'A conexão, seus números vinculados, a configuração do atendente e a chave de API serão apagados. Não dá para desfazer.'
          : 'A conta Saipos e o token guardado serão apagados. Não dá para desfazer.',
        confirm: 'Remover',
        danger: true,
      });
      if (!ok) return;
      await busy(removeBtn, async () => {
        try {
          await api('DELETE', `/api/user-apis/${enc(item.id)}`);
          toast(`“${item.name}” removida.`);
          await load();
        } catch (err) {
          toast(err.message, 'error');
        }
      });
    });
    actions.push(removeBtn);

    card.append(
      h('header', { class: 'card-head' },
        h('h2', { id: titleId }, item.name),
        h('span', { class: `badge type-${item.type}` }, TYPE_LABEL[item.type] || item.type),
        statusBadge),
      details, reason,
      h('div', { class: 'actions' }, actions),
      result,
      item.type === 'whatsapp' ? usagePanel(item.storeId) : null);
    return card;
  }

  // The "add an API" form.
  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'add-title' });
  const name = field({ label: 'Nome', name: 'name', required: true, autocomplete: 'off', placeholder: 'Ex.: Pizzaria do Zé' });
  const type = field({
    label: 'Tipo', name: 'type', control: 'select', options: [['whatsapp', 'WhatsApp'], ['saipos', 'Saipos (relatórios de vendas)']],
  });
  const token = field({
    label: 'Token da Saipos', name: 'apiKey', type: 'password', autocomplete: 'off',
    hint: 'O token da loja fornecido pela Saipos. Fica guardado cifrado e nunca é mostrado de novo.',
  });
  const baseUrl = field({
    label: 'Endereço da API Saipos (opcional)', name: 'baseUrl', type: 'url', autocomplete: 'off',
    placeholder: 'https://data.saipos.io/v1',
  });
  const saiposFields = h('div', { hidden: true }, token.wrap, baseUrl.wrap);
  type.input.addEventListener('change', () => { saiposFields.hidden = type.input.value !== 'saipos'; });
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Adicionar');
  form.append(
    h('h2', { id: 'add-title' }, 'Adicionar API'),
    name.wrap, type.wrap, saiposFields,
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { name: name.input.value, type: type.input.value };
    if (body.type === 'saipos') {
      body.apiKey = token.input.value;
      if (baseUrl.input.value.trim()) body.baseUrl = baseUrl.input.value.trim();
    }
    await busy(submit, async () => {
      try {
        const created = await api('POST', '/api/user-apis', body);
        form.reset();
        saiposFields.hidden = true;
        toast(`“${created.name}” adicionada.`);
        await load();
        if (created.apiKey) showKey(created.name, created.apiKey);
      } catch (err) {
        showError(form, err);
      }
    });
  });

  main.append(
    h('h1', {}, 'Suas APIs'),
    h('p', { class: 'lead' }, 'Conexões de WhatsApp (até 3 números cada) e contas Saipos da sua loja.'),
    keyPanel, form,
    h('h2', { class: 'section-title' }, 'Cadastradas'),
    list);
  load();
  return () => { alive = false; };
}

function isoDay(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 10);
}

/** The Saipos sales report of one account, for a chosen period. */
function reportPanel(item) {
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 7 * 86400000);
  const yesterday = new Date(today.getTime() - 86400000);
  const from = field({ label: 'De', name: 'from', type: 'date', value: isoDay(weekAgo) });
  const to = field({ label: 'Até', name: 'to', type: 'date', value: isoDay(yesterday) });
  const submit = h('button', { type: 'submit', class: 'btn btn-small' }, 'Ver relatório');
  const out = h('div', { class: 'report', 'aria-live': 'polite' });
  const form = h('form', { class: 'report-form', novalidate: true },
    h('div', { class: 'row' }, from.wrap, to.wrap),
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    out.replaceChildren(h('p', {}, 'Buscando vendas na Saipos…'));
    await busy(submit, async () => {
      try {
        const query = `from=${enc(from.input.value)}&to=${enc(to.input.value)}`;
        const report = await api('GET', `/api/user-apis/${enc(item.id)}/reports/sales?${query}`);
        out.replaceChildren(renderReport(report));
      } catch (err) {
        out.replaceChildren();
        showError(form, err);
      }
    });
  });
  return h('section', { class: 'report-panel', 'aria-label': `Relatório de vendas de ${item.name}` }, form, out);
}

function table(caption, head, rows) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, head.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((text) => h('td', {}, text)))))));
}

function renderReport(report) {
  const t = report.totals;
  return h('div', {},
    h('dl', { class: 'totals' },
      h('div', {}, h('dt', {}, 'Pedidos'), h('dd', {}, t.orders)),
      h('div', {}, h('dt', {}, 'Cancelados'), h('dd', {}, t.canceled)),
      h('div', {}, h('dt', {}, 'Faturamento'), h('dd', {}, money(t.revenue))),
      h('div', {}, h('dt', {}, 'Ticket médio'), h('dd', {}, money(t.averageTicket)))),
    table('Por dia', ['Dia', 'Pedidos', 'Cancelados', 'Faturamento'],
      report.days.map((d) => [d.date.split('-').reverse().join('/'), d.orders, d.canceled, money(d.revenue)])),
    report.byPaymentType.length
      ? table('Por forma de pagamento', ['Forma', 'Pedidos', 'Valor'], report.byPaymentType.map((b) => [b.name, b.orders, money(b.amount)]))
      : null,
    report.byChannel.length
      ? table('Por canal', ['Canal', 'Pedidos', 'Valor'], report.byChannel.map((b) => [b.name, b.orders, money(b.amount)]))
      : null,
    report.topItems.length
      ? table('Itens mais vendidos', ['Item', 'Quantidade', 'Faturamento'], report.topItems.map((i) => [i.name, i.quantity, money(i.revenue)]))
      : null,
    h('p', { class: 'hint' }, 'Os dados da Saipos podem chegar com até um dia de atraso.'));
}
