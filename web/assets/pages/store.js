// "/loja": what the attendant knows about the store besides the menu — address, opening
// hours (several shifts a day, shifts past midnight, exceptions by date), the message while
// closed, delivery (pickup, zones by neighbourhood with fee, minimum order and time) and
// payment methods (Pix, cash, card) — saved with PUT …/profile, and the live status from
// GET …/status. Inputs are named by their path in the profile
// (`hours.weekly.fri[0].close`), so the API's validation error lands next to the field.

import { api, enc } from '../api.js';
import { formatCents, parseReais } from '../money.js';
import { pickStore } from '../store-picker.js';
import {
  busy, clearErrors, field, h, showError, toast, uid,
} from '../ui.js';

export const WEEKDAYS = [
  ['mon', 'Segunda'], ['tue', 'Terça'], ['wed', 'Quarta'], ['thu', 'Quinta'],
  ['fri', 'Sexta'], ['sat', 'Sábado'], ['sun', 'Domingo'],
];
const KEY_TYPES = [
  ['cpf', 'CPF'], ['cnpj', 'CNPJ'], ['email', 'E-mail'], ['phone', 'Celular'], ['random', 'Chave aleatória'],
];
const DEFAULT_ZONE = 'America/Sao_Paulo';
const STATUS_EVERY_MS = 60000;

export function mount(main) {
  let alive = true;
  const body = h('div', { 'aria-busy': 'true' });
  main.append(
    h('h1', {}, 'Dados da loja'),
    h('p', { class: 'lead' },
      'Endereço, horários, entrega e formas de pagamento: o atendente responde aos clientes com o que estiver aqui.'),
    body);
  pickStore(body, () => alive, (storeId) => profileEditor(storeId, () => alive));
  return () => { alive = false; };
}

function emptyProfile() {
  return {
    name: '',
    address: '',
    hours: { weekly: Object.fromEntries(WEEKDAYS.map(([d]) => [d, []])), exceptions: [] },
    closedMessage: '',
    delivery: { pickup: true, zones: [] },
    payments: { pix: null, cash: true, card: true },
  };
}

/** The profile as the editor keeps it, from the API's (missing parts filled in). */
function fromApi(data) {
  const p = emptyProfile();
  if (!data) return p;
  p.name = data.name || '';
  // Fields this editor doesn't show (alerts, the AI budget, …) go back as they came: a
  // save here must not wipe what another page or the API set.
  const { name, address, closedMessage, hours, delivery, payments, ...rest } = data;
  p.rest = rest;
  p.address = data.address || '';
  p.closedMessage = data.closedMessage || '';
  for (const [d] of WEEKDAYS) p.hours.weekly[d] = ((data.hours && data.hours.weekly && data.hours.weekly[d]) || []).map((i) => ({ ...i }));
  p.hours.exceptions = ((data.hours && data.hours.exceptions) || []).map((e) => ({ date: e.date, intervals: (e.intervals || []).map((i) => ({ ...i })) }));
  if (data.delivery) {
    p.delivery.pickup = !!data.delivery.pickup;
    p.delivery.zones = (data.delivery.zones || []).map((z) => ({ ...z, neighborhoods: [...(z.neighborhoods || [])] }));
  }
  if (data.payments) {
    p.payments.pix = data.payments.pix ? { ...data.payments.pix } : null;
    p.payments.cash = !!data.payments.cash;
    p.payments.card = !!data.payments.card;
  }
  return p;
}

/** The profile as the API wants it. */
function toApi(p) {
  const out = {
    ...(p.rest || {}),
    hours: {
      weekly: Object.fromEntries(WEEKDAYS.map(([d]) => [d, p.hours.weekly[d].map(({ open, close }) => ({ open, close }))])),
      exceptions: p.hours.exceptions.map((e) => ({ date: e.date, intervals: e.intervals.map(({ open, close }) => ({ open, close })) })),
    },
    delivery: {
      pickup: p.delivery.pickup,
      zones: p.delivery.zones.map((z) => ({
        name: z.name, neighborhoods: z.neighborhoods, feeCents: z.feeCents, minOrderCents: z.minOrderCents, etaMinutes: z.etaMinutes,
      })),
    },
    payments: { cash: p.payments.cash, card: p.payments.card },
  };
  if (p.name.trim()) out.name = p.name;
  if (p.address.trim()) out.address = p.address;
  if (p.closedMessage.trim()) out.closedMessage = p.closedMessage;
  if (p.payments.pix) {
    const { key, keyType, merchantName, merchantCity } = p.payments.pix;
    out.payments.pix = { key, keyType, merchantName, merchantCity };
  }
  return out;
}

/**
 * "18:00–02:00 (termina no dia seguinte)" for a shift past midnight (a `close` equal to
 * `open` is 24 hours); "18:00–23:30" otherwise.
 */
export function describeShift({ open, close }) {
  if (!open || !close) return '';
  const span = `${open}–${close}`;
  if (close === open) return `${span} (24 horas, termina no dia seguinte)`;
  return close < open ? `${span} (termina no dia seguinte)` : span;
}

/** Problems the console sees before sending: a money value or a number it can't read. */
function localProblem(p) {
  for (const [zi, z] of p.delivery.zones.entries()) {
    const at = `delivery.zones[${zi}]`;
    for (const key of ['feeCents', 'minOrderCents']) {
      if (z[key] === null || Number.isNaN(z[key])) return { field: `${at}.${key}`, message: 'Valor inválido: use o formato 7,50 (ou 0).' };
    }
    if (!Number.isInteger(z.etaMinutes) || z.etaMinutes < 0) return { field: `${at}.etaMinutes`, message: 'Informe os minutos, um número inteiro (ex.: 45).' };
  }
  return null;
}

/** Parts of `date` in the IANA `zone`. */
function zoned(date, zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(date).map((x) => [x.type, x.value]));
  return { day: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

/** "hoje às 18:00", "amanhã às 02:00", "sexta às 18:00", "25/12 às 18:00", in the store's zone. */
export function when(value, zone, now = new Date()) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  const at = zoned(date, zone);
  const today = zoned(now, zone).day;
  const days = Math.round((Date.parse(`${at.day}T00:00:00Z`) - Date.parse(`${today}T00:00:00Z`)) / 86400000);
  let day;
  if (days === 0) day = 'hoje';
  else if (days === 1) day = 'amanhã';
  else if (days > 1 && days < 7) {
    day = new Intl.DateTimeFormat('pt-BR', { weekday: 'long', timeZone: zone }).format(date).replace(/-feira$/, '');
  } else day = at.day.slice(5).split('-').reverse().join('/');
  return `${day} às ${at.time}`;
}

/** The status line: "Aberto agora — fecha às 23:30", "Fechado — abre sexta às 18:00". */
export function statusText(status, zone, now = new Date()) {
  if (status.open) {
    if (!status.closesAt) return 'Aberto agora';
    const close = when(status.closesAt, zone, now);
    return `Aberto agora — fecha ${close.startsWith('hoje ') ? close.slice(5) : close}`;
  }
  if (!status.opensAt) return 'Fechado — nenhum horário de abertura cadastrado';
  return `Fechado — abre ${when(status.opensAt, zone, now)}`;
}

function profileEditor(storeId, isAlive) {
  const base = `/api/client/${enc(storeId)}`;
  let profile = emptyProfile();
  let zone = DEFAULT_ZONE;

  const status = h('p', { class: 'store-status', role: 'status', dataset: { state: 'loading' } }, 'Consultando se a loja está aberta…');
  const form = h('form', { class: 'profile-form', novalidate: true, 'aria-label': 'Dados da loja', 'aria-busy': 'true' });
  const sections = h('div', {});
  const saved = h('p', { class: 'hint', role: 'status' });
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Salvar dados da loja');
  form.append(sections,
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions sticky-actions' }, submit, saved));

  async function refreshStatus() {
    try {
      const now = await api('GET', `${base}/status`);
      status.textContent = statusText(now, zone);
      status.dataset.state = now.open ? 'open' : 'closed';
    } catch (err) {
      status.textContent = `Status indisponível: ${err.message}`;
      status.dataset.state = 'error';
    }
  }

  function render(focusName) {
    clearErrors(form);
    sections.replaceChildren(general(), hoursSection(), deliverySection(), paymentsSection(), alertsSection());
    if (focusName) form.querySelector(`[name="${CSS.escape(focusName)}"]`)?.focus();
  }

  function text(path, label, obj, key, attrs = {}) {
    const f = field({ label, name: path, autocomplete: 'off', ...attrs });
    f.input.value = obj[key] ?? '';
    f.input.addEventListener('input', () => { obj[key] = f.input.value; });
    return f;
  }

  function toggle(path, label, obj, key, onChange) {
    const id = uid('sw');
    const input = h('input', { type: 'checkbox', id, name: path, role: 'switch', checked: !!obj[key] });
    input.addEventListener('change', () => { obj[key] = input.checked; if (onChange) onChange(); });
    return h('div', { class: 'field switch' }, input, h('label', { for: id }, label),
      h('p', { class: 'field-error', dataset: { errorFor: path } }));
  }

  function money(path, label, obj, key) {
    const f = field({ label, name: path, inputmode: 'decimal', autocomplete: 'off', placeholder: '0,00' });
    f.input.value = formatCents(obj[key]);
    f.input.addEventListener('input', () => { obj[key] = parseReais(f.input.value); });
    f.input.addEventListener('blur', () => { if (Number.isInteger(obj[key])) f.input.value = formatCents(obj[key]); });
    return f;
  }

  function section(title, ...children) {
    const id = uid('sec');
    return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
  }

  function general() {
    return section('Nome, endereço e aviso de fechado',
      text('name', 'Nome da loja (como os clientes conhecem)', profile, 'name', { placeholder: 'Pizzaria Bella' }).wrap,
      text('address', 'Endereço', profile, 'address', { control: 'textarea', rows: 2, placeholder: 'Rua, número, bairro, cidade' }).wrap,
      text('closedMessage', 'Mensagem quando a loja está fechada (opcional)', profile, 'closedMessage', {
        control: 'textarea', rows: 2,
        hint: 'Sem mensagem, o atendente avisa que a loja está fechada e quando abre.',
      }).wrap);
  }

  /** The shifts of one day (weekday or exception) at `path`. */
  function shifts(path, intervals, dayLabel) {
    const list = h('ol', { class: 'shifts' }, intervals.map((interval, i) => {
      const at = `${path}[${i}]`;
      const note = h('span', { class: 'shift-note' }, describeShift(interval));
      const time = (key, label) => {
        const f = field({ label, name: `${at}.${key}`, type: 'time', value: interval[key] || '' });
        f.input.value = interval[key] || '';
        f.input.addEventListener('input', () => {
          interval[key] = f.input.value;
          note.textContent = describeShift(interval);
        });
        return f;
      };
      const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Remover o turno ${i + 1} de ${dayLabel}` }, 'Remover');
      remove.addEventListener('click', () => { intervals.splice(i, 1); render(); });
      return h('li', { class: 'shift', dataset: { path: at } },
        h('div', { class: 'shift-times' }, time('open', 'Abre').wrap, time('close', 'Fecha').wrap, remove), note);
    }));
    const add = h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'aria-label': `Adicionar turno em ${dayLabel}` }, 'Adicionar turno');
    add.addEventListener('click', () => {
      const last = intervals[intervals.length - 1];
      intervals.push(last ? { open: last.close, close: '23:00' } : { open: '11:00', close: '15:00' });
      render(`${path}[${intervals.length - 1}].open`);
    });
    return [
      h('p', { class: 'field-error', dataset: { errorFor: path } }),
      intervals.length ? list : null,
      h('div', { class: 'actions' }, add),
    ];
  }

  function hoursSection() {
    const days = WEEKDAYS.map(([d, label]) => h('fieldset', { class: 'day', dataset: { day: d } },
      h('legend', {}, label),
      profile.hours.weekly[d].length ? null : h('p', { class: 'hint closed-day' }, 'Fechado'),
      ...shifts(`hours.weekly.${d}`, profile.hours.weekly[d], label)));
    const exceptions = profile.hours.exceptions.map((e, ei) => {
      const at = `hours.exceptions[${ei}]`;
      const date = field({ label: 'Data', name: `${at}.date`, type: 'date' });
      date.input.value = e.date || '';
      date.input.addEventListener('input', () => { e.date = date.input.value; });
      const closedId = uid('closed');
      const closed = h('input', { type: 'checkbox', id: closedId, role: 'switch', checked: !e.intervals.length });
      closed.addEventListener('change', () => {
        e.intervals = closed.checked ? [] : [{ open: '18:00', close: '23:00' }];
        render(closed.checked ? undefined : `${at}.intervals[0].open`);
      });
      const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Remover exceção');
      remove.addEventListener('click', () => { profile.hours.exceptions.splice(ei, 1); render(); });
      const label = e.date ? e.date.split('-').reverse().join('/') : `exceção ${ei + 1}`;
      return h('fieldset', { class: 'day exception', dataset: { path: at } },
        h('legend', {}, e.date ? `Exceção em ${label}` : 'Nova exceção'),
        date.wrap,
        h('div', { class: 'field switch' }, closed, h('label', { for: closedId }, 'Fechado o dia todo')),
        ...(e.intervals.length ? shifts(`${at}.intervals`, e.intervals, label) : []),
        h('div', { class: 'actions' }, remove));
    });
    const addException = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Adicionar exceção');
    addException.addEventListener('click', () => {
      profile.hours.exceptions.push({ date: '', intervals: [] });
      render(`hours.exceptions[${profile.hours.exceptions.length - 1}].date`);
    });
    return section('Horário de funcionamento',
      h('p', { class: 'hint' }, 'Vários turnos por dia. Um turno que fecha antes de abrir (ex.: 18:00–02:00) termina no dia seguinte. Horários no fuso da loja (configurado em Atendente).'),
      h('div', { class: 'days' }, days),
      h('h3', { class: 'section-title' }, 'Exceções (feriados e datas especiais)'),
      h('p', { class: 'hint' }, 'Numa data com exceção valem só os turnos dela (ou fechado o dia todo).'),
      h('p', { class: 'field-error', dataset: { errorFor: 'hours.exceptions' } }),
      exceptions,
      h('div', { class: 'actions' }, addException));
  }

  function deliverySection() {
    const zones = profile.delivery.zones.map((z, zi) => {
      const at = `delivery.zones[${zi}]`;
      const name = text(`${at}.name`, 'Nome da zona', z, 'name', { placeholder: 'Ex.: Zona Sul' });
      const hoods = field({
        label: 'Bairros atendidos', name: `${at}.neighborhoods`, control: 'textarea', rows: 2,
        hint: 'Separe por vírgula ou um por linha. Maiúsculas e acentos não importam.',
      });
      hoods.input.value = z.neighborhoods.join(', ');
      hoods.input.addEventListener('input', () => {
        z.neighborhoods = hoods.input.value.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
      });
      const eta = field({ label: 'Tempo de entrega (min)', name: `${at}.etaMinutes`, type: 'number', inputmode: 'numeric', min: 0, step: 1 });
      eta.input.value = z.etaMinutes ?? '';
      eta.input.addEventListener('input', () => { z.etaMinutes = eta.input.value.trim() === '' ? NaN : Number(eta.input.value); });
      const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Remover zona');
      remove.addEventListener('click', () => { profile.delivery.zones.splice(zi, 1); render(); });
      return h('fieldset', { class: 'zone', dataset: { path: at } },
        h('legend', {}, z.name || `Zona ${zi + 1}`),
        name.wrap, hoods.wrap,
        h('div', { class: 'row3' },
          money(`${at}.feeCents`, 'Taxa (R$)', z, 'feeCents').wrap,
          money(`${at}.minOrderCents`, 'Pedido mínimo (R$)', z, 'minOrderCents').wrap,
          eta.wrap),
        h('div', { class: 'actions' }, remove));
    });
    const add = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Adicionar zona de entrega');
    add.addEventListener('click', () => {
      profile.delivery.zones.push({ name: '', neighborhoods: [], feeCents: 0, minOrderCents: 0, etaMinutes: 45 });
      render(`delivery.zones[${profile.delivery.zones.length - 1}].name`);
    });
    return section('Entrega e retirada',
      toggle('delivery.pickup', 'Retirada no balcão', profile.delivery, 'pickup'),
      h('p', { class: 'field-error', dataset: { errorFor: 'delivery.zones' } }),
      profile.delivery.zones.length ? zones : h('p', { class: 'hint' }, 'Nenhuma zona de entrega: a loja não entrega.'),
      h('div', { class: 'actions' }, add));
  }

  /** Who hears about a number down or the attendant failing, and the monthly AI budget. */
  function alertsSection() {
    profile.rest = profile.rest || {};
    const rest = profile.rest;
    const alerts = { emails: [], phones: [], ...(rest.alerts || {}) };
    const lines = (value) => value.split(/[\n,;]+/).map((v) => v.trim()).filter(Boolean);
    const list = (path, label, key, hint) => {
      const f = field({ label, name: path, control: 'textarea', rows: 2, hint, autocomplete: 'off' });
      f.input.value = alerts[key].join('\n');
      f.input.addEventListener('input', () => {
        rest.alerts = { ...alerts, ...(rest.alerts || {}), [key]: lines(f.input.value) };
      });
      return f;
    };
    const budget = field({
      label: 'Orçamento mensal de IA em US$ (opcional)', name: 'aiBudgetMicros', inputmode: 'decimal', autocomplete: 'off',
      hint: 'Ao chegar a 80% você é avisado; a 100% o atendente passa ao modelo econômico (ou ao aviso de indisponível) até o mês virar.',
    });
    if (Number.isInteger(rest.aiBudgetMicros)) budget.input.value = String(rest.aiBudgetMicros / 1e6).replace('.', ',');
    budget.input.addEventListener('input', () => {
      const text = budget.input.value.trim().replace(',', '.');
      if (!text) delete rest.aiBudgetMicros;
      else rest.aiBudgetMicros = /^\d+(\.\d{1,6})?$/.test(text) ? Math.round(Number(text) * 1e6) : -1;
    });
    return section('Alertas e orçamento de IA',
      h('p', { class: 'hint' }, 'Quando um número cai ou o atendente não consegue responder, avisamos por e-mail e por WhatsApp (a partir de outro número conectado da loja).'),
      list('alerts.emails', 'E-mails para alertas (um por linha)', 'emails').wrap,
      list('alerts.phones', 'Celulares para alertas no WhatsApp (um por linha)', 'phones', 'Com DDI e DDD, por exemplo +5511999990000.').wrap,
      budget.wrap);
  }

  function paymentsSection() {
    const pay = profile.payments;
    const pixOn = { on: !!pay.pix };
    const pixSwitch = toggle('payments.pixEnabled', 'Pix', pixOn, 'on', () => {
      pay.pix = pixOn.on ? { keyType: 'cnpj', key: '', merchantName: '', merchantCity: '' } : null;
      render(pixOn.on ? 'payments.pix.key' : undefined);
    });
    let pixFields = null;
    if (pay.pix) {
      const keyType = field({ label: 'Tipo da chave Pix', name: 'payments.pix.keyType', control: 'select', options: KEY_TYPES });
      keyType.input.value = pay.pix.keyType || 'cnpj';
      keyType.input.addEventListener('change', () => { pay.pix.keyType = keyType.input.value; });
      pixFields = h('div', { class: 'pix' },
        h('div', { class: 'row' }, keyType.wrap, text('payments.pix.key', 'Chave Pix', pay.pix, 'key').wrap),
        h('div', { class: 'row' },
          text('payments.pix.merchantName', 'Nome do recebedor', pay.pix, 'merchantName', { hint: 'Como aparece no Pix (até 25 caracteres).' }).wrap,
          text('payments.pix.merchantCity', 'Cidade do recebedor', pay.pix, 'merchantCity', { hint: 'Até 15 caracteres.' }).wrap),
        h('p', { class: 'field-error', dataset: { errorFor: 'payments.pix' } }));
    }
    return section('Formas de pagamento',
      pixSwitch, pixFields,
      toggle('payments.cash', 'Dinheiro (com troco)', pay, 'cash'),
      toggle('payments.card', 'Cartão na entrega', pay, 'card'));
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const problem = localProblem(profile);
    if (problem) {
      showError(form, problem);
      return;
    }
    await busy(submit, async () => {
      try {
        const stored = await api('PUT', `${base}/profile`, toApi(profile));
        profile = fromApi(stored);
        render();
        saved.textContent = 'Dados da loja salvos.';
        toast('Dados da loja salvos.');
        await refreshStatus();
      } catch (err) {
        showError(form, err);
      }
    });
  });

  (async () => {
    try {
      const config = await api('GET', `${base}/config`).catch(() => null);
      if (config && config.timezone) zone = config.timezone;
      let data = null;
      try {
        data = await api('GET', `${base}/profile`);
      } catch (err) {
        if (!(err.status === 404 && err.code === 'not_found')) throw err;
      }
      if (!isAlive()) return;
      profile = fromApi(data);
      render();
      await refreshStatus();
      // Keep the line true while the page stays open (a shift starts or ends).
      const timer = setInterval(() => {
        if (!isAlive() || !status.isConnected) clearInterval(timer);
        else refreshStatus();
      }, STATUS_EVERY_MS);
    } catch (err) {
      render();
      showError(form, err);
    } finally {
      form.setAttribute('aria-busy', 'false');
    }
  })();

  return h('div', {}, h('div', { class: 'card status-card' }, status), form);
}
