// "/whatsapp-tools": the attendant's settings of one WhatsApp connection: name, kind of store,
// base prompt, forbidden topics, on/off, context time and message limit. The API validates;
// its messages appear next to the field they name.

import { api, enc } from '../api.js';
import { busy, clearErrors, field, formatDate, h, showError, toast } from '../ui.js';
import { pickStore } from '../store-picker.js';

const TIME_ZONES = [
  'America/Sao_Paulo', 'America/Bahia', 'America/Fortaleza', 'America/Recife', 'America/Belem',
  'America/Manaus', 'America/Cuiaba', 'America/Campo_Grande', 'America/Porto_Velho',
  'America/Boa_Vista', 'America/Rio_Branco', 'America/Noronha',
];
const STORE_TYPES = ['pizzaria', 'hamburgueria', 'restaurante', 'lanchonete', 'açaíteria', 'padaria', 'japonês', 'marmitaria', 'doceria', 'bar'];

export function mount(main) {
  let alive = true;
  const body = h('div', { 'aria-busy': 'true' });
  main.append(
    h('h1', {}, 'Atendente virtual'),
    h('p', { class: 'lead' }, 'Como o atendente responde os clientes no WhatsApp de cada conexão.'),
    body);

  pickStore(body, () => alive, (storeId) => configForm(storeId, () => alive));
  return () => { alive = false; };
}

function configForm(storeId, isAlive) {
  const form = h('form', { class: 'card config-form', novalidate: true, 'aria-label': 'Configuração do atendente', 'aria-busy': 'true' });
  const botName = field({ label: 'Nome do atendente', name: 'botName', autocomplete: 'off', placeholder: 'Ex.: Maria', hint: 'Até 60 caracteres.' });
  const storeType = field({ label: 'Tipo de loja', name: 'storeType', autocomplete: 'off', list: 'store-types', placeholder: 'Ex.: pizzaria', hint: 'Até 40 caracteres.' });
  const types = h('datalist', { id: 'store-types' }, STORE_TYPES.map((t) => h('option', { value: t })));
  const basePrompt = field({
    label: 'Prompt base', name: 'basePrompt', control: 'textarea', rows: 6,
    hint: 'Instruções para o atendente: cardápio, horários, tom de voz, como fechar pedidos. Até 8000 caracteres.',
  });
  const forbidden = field({
    label: 'Assuntos proibidos', name: 'forbidden', control: 'textarea', rows: 3,
    hint: 'Temas que o atendente deve recusar (ex.: política, religião). Até 4000 caracteres.',
  });
  const contextTime = field({
    label: 'Tempo de contexto (minutos)', name: 'contextTime', type: 'number', inputmode: 'numeric', min: 1, max: 1440,
    hint: 'Por quanto tempo o atendente lembra a conversa. De 1 a 1440.',
  });
  const messageLimit = field({
    label: 'Limite de mensagens', name: 'messageLimit', type: 'number', inputmode: 'numeric', min: 1, max: 200,
    hint: 'Quantas mensagens anteriores entram no contexto. De 1 a 200.',
  });
  const debounceSeconds = field({
    label: 'Espera antes de responder (segundos)', name: 'debounceSeconds', type: 'number', inputmode: 'numeric', min: 0, max: 30,
    hint: 'Mensagens seguidas do cliente dentro desse tempo recebem uma só resposta. De 0 a 30.',
  });
  const takeoverMinutes = field({
    label: 'Pausa quando você responde (minutos)', name: 'takeoverMinutes', type: 'number', inputmode: 'numeric', min: 1, max: 1440,
    hint: 'Quando você escreve pelo celular numa conversa, o atendente fica quieto nela por esse tempo. Em branco: o tempo de contexto. "#bot off" e "#bot on" no celular desligam e religam a conversa.',
  });
  const historyDays = field({
    label: 'Guardar conversas (dias)', name: 'historyDays', type: 'number', inputmode: 'numeric', min: 1, max: 365,
    hint: 'Por quantos dias as conversas ficam em Conversas. O atendente continua lendo só o tempo de contexto. De 1 a 365.',
  });
  const timezone = field({
    label: 'Fuso horário da loja', name: 'timezone', autocomplete: 'off', list: 'time-zones',
    hint: 'O atendente usa a data e a hora locais (ex.: America/Sao_Paulo).',
  });
  const zones = h('datalist', { id: 'time-zones' }, TIME_ZONES.map((z) => h('option', { value: z })));
  const enabledId = `bot-enabled-${storeId}`;
  const botEnabled = h('input', { type: 'checkbox', id: enabledId, name: 'botEnabled', role: 'switch' });
  const enabledWrap = h('div', { class: 'field switch' },
    botEnabled, h('label', { for: enabledId }, 'Atendente ligado'),
    h('p', { class: 'field-error', dataset: { errorFor: 'botEnabled' } }));
  const updated = h('p', { class: 'hint', role: 'status' });
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Salvar');
  form.append(
    enabledWrap, botName.wrap, storeType.wrap, types, basePrompt.wrap, forbidden.wrap,
    h('div', { class: 'row' }, contextTime.wrap, messageLimit.wrap),
    h('div', { class: 'row' }, debounceSeconds.wrap, takeoverMinutes.wrap),
    historyDays.wrap,
    timezone.wrap, zones,
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions' }, submit), updated);

  const fill = (config) => {
    botName.input.value = config.botName || '';
    storeType.input.value = config.storeType || '';
    basePrompt.input.value = config.basePrompt || '';
    forbidden.input.value = config.forbidden || '';
    contextTime.input.value = config.contextTime;
    messageLimit.input.value = config.messageLimit;
    debounceSeconds.input.value = config.debounceSeconds ?? 3;
    takeoverMinutes.input.value = config.takeoverMinutes ?? '';
    historyDays.input.value = config.historyDays ?? 30;
    timezone.input.value = config.timezone || 'America/Sao_Paulo';
    botEnabled.checked = !!config.botEnabled;
    updated.textContent = `Última alteração: ${formatDate(config.updatedAt)}`;
  };
  const number = (input) => {
    const raw = input.value.trim();
    if (raw === '') return input.validity.badInput ? input.value : null;
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw;
  };

  api('GET', `/api/client/${enc(storeId)}/config`).then((config) => {
    if (isAlive()) fill(config);
  }).catch((err) => showError(form, err)).finally(() => form.setAttribute('aria-busy', 'false'));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const change = {
      botName: botName.input.value,
      storeType: storeType.input.value,
      basePrompt: basePrompt.input.value,
      forbidden: forbidden.input.value,
      contextTime: number(contextTime.input),
      messageLimit: number(messageLimit.input),
      debounceSeconds: number(debounceSeconds.input),
      takeoverMinutes: number(takeoverMinutes.input),
      historyDays: number(historyDays.input),
      timezone: timezone.input.value.trim() || null,
      botEnabled: botEnabled.checked,
    };
    await busy(submit, async () => {
      try {
        const config = await api('PUT', `/api/client/${enc(storeId)}/config`, change);
        fill(config);
        updated.textContent = `Configuração salva. Última alteração: ${formatDate(config.updatedAt)}`;
        toast('Configuração salva.');
      } catch (err) {
        showError(form, err);
      }
    });
  });
  return form;
}
