// "/pedidos": the kitchen's order board — today's orders of one store (the store's day, in
// its time zone) in columns by status, read again every POLL_MS so a new order shows within
// 2 seconds, with a sound when one arrives (a chime made with WebAudio: the console's CSP
// allows no media file; the board counts them in `data-sounds`). One click moves an order to its next status (the documented
// transitions; cancelling asks for a reason); its details show the lines, the address, the
// payment (marking it paid), how sending it to Saipos went (stores with the Saipos Order
// API) and the history, with a link to the customer's WhatsApp chat.

import { api, enc } from '../api.js';
import { reais } from '../money.js';
import { pickStore } from '../store-picker.js';
import {
  busy, field, formatDate, h, toast,
} from '../ui.js';

export const POLL_MS = 1500;
const DEFAULT_ZONE = 'America/Sao_Paulo';

export const STATUS_LABELS = {
  new: 'Novo',
  accepted: 'Aceito',
  preparing: 'Em preparo',
  out_for_delivery: 'Saiu para entrega',
  ready_for_pickup: 'Pronto para retirada',
  delivered: 'Entregue',
  cancelled: 'Cancelado',
};

/** The action that moves an order to each status. */
const ACTION_LABELS = {
  accepted: 'Aceitar',
  preparing: 'Iniciar preparo',
  out_for_delivery: 'Saiu para entrega',
  ready_for_pickup: 'Pronto para retirada',
  delivered: 'Marcar entregue',
  cancelled: 'Cancelar',
};

/** The board's columns, in the order an order moves through them. */
const COLUMNS = [
  ['new', ['new']],
  ['accepted', ['accepted']],
  ['preparing', ['preparing']],
  ['ready', ['out_for_delivery', 'ready_for_pickup']],
  ['done', ['delivered', 'cancelled']],
];
const COLUMN_TITLES = {
  new: 'Novos', accepted: 'Aceitos', preparing: 'Em preparo', ready: 'A caminho / prontos', done: 'Finalizados',
};

/** The statuses an order may move to (the API's documented transitions). */
export function nextStatuses(status, mode) {
  switch (status) {
    case 'new': return ['accepted', 'cancelled'];
    case 'accepted': return ['preparing', 'cancelled'];
    case 'preparing': return [mode === 'pickup' ? 'ready_for_pickup' : 'out_for_delivery', 'cancelled'];
    case 'out_for_delivery':
    case 'ready_for_pickup': return ['delivered', 'cancelled'];
    default: return [];
  }
}

/** "#0042". */
export function orderNumber(n) {
  return `#${String(n).padStart(4, '0')}`;
}

/** Today (YYYY-MM-DD) in the IANA `zone`. */
export function today(zone, now = new Date()) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
  }).formatToParts(now).map((x) => [x.type, x.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** The context new-order tones play in (made on first use; a browser may keep it
 *  suspended until the page gets a click, which every status change is). */
let audio = null;

/** Plays a short two-note chime through WebAudio (no media file: the CSP allows none). */
export function chime() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return false;
  audio = audio || new Context();
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  const start = audio.currentTime;
  for (const [i, freq] of [880, 1320].entries()) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, start + i * 0.18);
    gain.gain.exponentialRampToValueAtTime(0.3, start + i * 0.18 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.18 + 0.3);
    osc.connect(gain).connect(audio.destination);
    osc.start(start + i * 0.18);
    osc.stop(start + i * 0.18 + 0.32);
  }
  return true;
}

export function mount(main) {
  let alive = true;
  const body = h('div', { 'aria-busy': 'true' });
  main.append(
    h('h1', {}, 'Pedidos'),
    h('p', { class: 'lead' },
      'Os pedidos de hoje, atualizados sozinhos. Um clique muda o status e o cliente é avisado no WhatsApp.'),
    body);
  pickStore(body, () => alive, (storeId) => board(storeId, () => alive));
  return () => { alive = false; };
}

function board(storeId, isAlive) {
  const base = `/api/client/${enc(storeId)}`;
  let zone = DEFAULT_ZONE;
  let orders = [];
  let known = null; // ids seen so far (null until the first load: no sound for those)
  const open = new Set(); // ids whose details are open
  let timer = null;
  let inFlight = false;

  const live = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const columns = h('div', { class: 'order-board', dataset: { loaded: 'false' } });
  const root = h('div', { class: 'orders', dataset: { sounds: '0' } }, live, error, columns);

  function ring(count) {
    live.textContent = count === 1 ? 'Novo pedido!' : `${count} novos pedidos!`;
    let played = false;
    try {
      played = chime();
    } catch { /* no audio output: the text stays */ }
    if (played) root.dataset.sounds = String(Number(root.dataset.sounds) + 1);
  }

  async function move(order, status, button) {
    let reason;
    if (status === 'cancelled') {
      reason = await askReason(order);
      if (reason === null) return;
    }
    await busy(button, async () => {
      try {
        const updated = await api('POST', `${base}/orders/${enc(order.id)}/status`, reason ? { status, reason } : { status });
        replace(updated || { ...order, status });
        toast(`Pedido ${orderNumber(order.number)}: ${STATUS_LABELS[status]}.`);
      } catch (err) {
        toast(err.message, 'error');
        await refresh();
      }
    });
  }

  async function markPaid(order, button) {
    await busy(button, async () => {
      try {
        const updated = await api('POST', `${base}/orders/${enc(order.id)}/paid`);
        replace(updated || { ...order, payment: { ...order.payment, paid: true } });
        toast(`Pedido ${orderNumber(order.number)} marcado como pago.`);
      } catch (err) {
        toast(err.message, 'error');
      }
    });
  }

  function replace(updated) {
    orders = orders.map((o) => (o.id === updated.id ? updated : o));
    render();
  }

  function card(order) {
    const mode = order.fulfillment && order.fulfillment.mode;
    const actions = nextStatuses(order.status, mode).map((status) => {
      const button = h('button', {
        type: 'button',
        class: `btn btn-small${status === 'cancelled' ? ' btn-danger' : ''}`,
        dataset: { action: status },
        'aria-label': `${ACTION_LABELS[status]} o pedido ${orderNumber(order.number)}`,
      }, ACTION_LABELS[status]);
      button.addEventListener('click', () => move(order, status, button));
      return button;
    });
    const payment = order.payment || {};
    const who = order.customerName || order.chat;
    const details = h('details', { class: 'order-details' },
      h('summary', {}, 'Detalhes'),
      h('ul', { class: 'order-lines' }, (order.items || []).map((line) => h('li', {},
        `${line.quantity}× ${line.name}`,
        (line.options || []).length ? ` (${line.options.map((o) => o.name).join(', ')})` : '',
        line.note ? ` — ${line.note}` : '',
        ` · ${reais(line.totalCents)}`))),
      h('p', {}, `Subtotal ${reais(order.subtotalCents)} · Entrega ${reais(order.deliveryFeeCents)} · Total ${reais(order.totalCents)}`),
      h('p', {}, mode === 'pickup'
        ? 'Retirada no balcão'
        : `Entrega: ${[order.fulfillment.address, order.fulfillment.neighborhood].filter(Boolean).join(', ')}`),
      h('p', { class: 'order-payment' }, paymentText(payment), ' ',
        payment.paid ? h('strong', {}, 'Pago') : null,
        !payment.paid && payment.proofReceived
          ? h('strong', { class: 'order-proof' }, 'Comprovante recebido (confira)') : null),
      !payment.paid && order.status !== 'cancelled'
        ? (() => {
          const b = h('button', { type: 'button', class: 'btn btn-small btn-ghost', dataset: { action: 'paid' } }, 'Marcar como pago');
          b.addEventListener('click', () => markPaid(order, b));
          return b;
        })()
        : null,
      order.saipos ? h('p', { class: 'order-saipos' }, saiposText(order.saipos)) : null,
      h('ol', { class: 'order-history' }, (order.history || []).map((step) => h('li', {},
        `${STATUS_LABELS[step.status] || step.status} · ${formatDate(step.at)}`,
        step.reason ? ` — ${step.reason}` : '',
        step.note ? h('span', { class: 'hint' }, ` (${step.note})`) : ''))),
      h('p', {}, h('a', {
        href: `https://wa.me/${encodeURIComponent(String(order.chat).replace(/\D/g, ''))}`,
        target: '_blank',
        rel: 'noopener',
        class: 'chat-link',
      }, 'Abrir a conversa no WhatsApp')));
    details.open = open.has(order.id);
    details.addEventListener('toggle', () => {
      if (details.open) open.add(order.id);
      else open.delete(order.id);
    });
    return h('article', {
      class: 'order-card', dataset: { orderId: order.id, status: order.status }, 'aria-label': `Pedido ${orderNumber(order.number)}`,
    },
    h('header', {},
      h('strong', { class: 'order-number' }, orderNumber(order.number)),
      h('span', { class: 'order-status' }, STATUS_LABELS[order.status] || order.status),
      h('span', { class: 'order-time' }, formatDate(order.createdAt))),
    h('p', {}, who, ' · ', h('strong', {}, reais(order.totalCents)), ' · ',
      mode === 'pickup' ? 'Retirada' : 'Entrega',
      !payment.paid && payment.proofReceived ? ' · comprovante recebido' : ''),
    actions.length ? h('div', { class: 'actions' }, actions) : null,
    details);
  }

  function render() {
    columns.replaceChildren(...COLUMNS.map(([key, statuses]) => {
      const inColumn = orders.filter((o) => statuses.includes(o.status));
      return h('section', { class: 'order-column', dataset: { column: key }, 'aria-label': COLUMN_TITLES[key] },
        h('h2', {}, `${COLUMN_TITLES[key]} (${inColumn.length})`),
        inColumn.length ? inColumn.map(card) : h('p', { class: 'hint' }, 'Nenhum pedido.'));
    }));
    columns.dataset.loaded = 'true';
  }

  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    try {
      const all = [];
      let cursor = null;
      const date = today(zone);
      for (let page = 0; page < 20; page += 1) {
        const query = `date=${enc(date)}${cursor ? `&cursor=${enc(cursor)}` : ''}`;
        const res = await api('GET', `${base}/orders?${query}`);
        all.push(...((res && (res.data || res.orders)) || []));
        cursor = res && res.nextCursor;
        if (!cursor) break;
      }
      if (!isAlive()) return;
      const fresh = known ? all.filter((o) => !known.has(o.id)) : [];
      known = new Set(all.map((o) => o.id));
      orders = all;
      error.textContent = '';
      render();
      if (fresh.length) ring(fresh.length);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      inFlight = false;
    }
  }

  (async () => {
    const config = await api('GET', `${base}/config`).catch(() => null);
    if (config && config.timezone) zone = config.timezone;
    await refresh();
    timer = setInterval(() => {
      if (!isAlive() || !root.isConnected) {
        clearInterval(timer);
        return;
      }
      refresh();
    }, POLL_MS);
  })();

  return root;
}

/** How sending the order to the store's Saipos POS went. */
function saiposText(saipos) {
  const label = {
    sent: 'Enviado ao Saipos',
    retrying: 'Saipos: nova tentativa em breve',
    failed: 'Saipos: não enviado',
  }[saipos.status] || `Saipos: ${saipos.status}`;
  return saipos.error ? `${label} — ${saipos.error}` : label;
}

function paymentText(payment) {
  switch (payment.method) {
    case 'pix': return 'Pix';
    case 'cash': return payment.changeForCents ? `Dinheiro (troco para ${reais(payment.changeForCents)})` : 'Dinheiro';
    case 'card': return 'Cartão na entrega';
    default: return '';
  }
}

/** Asks why an order is cancelled; `null` when the owner gives up. */
function askReason(order) {
  return new Promise((resolve) => {
    const reason = field({ label: 'Motivo do cancelamento', name: 'reason', maxlength: 200, required: true });
    const ok = h('button', { type: 'submit', class: 'btn btn-danger' }, 'Cancelar pedido');
    const back = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Voltar');
    const form = h('form', { method: 'dialog' },
      h('h2', {}, `Cancelar o pedido ${orderNumber(order.number)}?`),
      h('p', {}, 'O cliente recebe o motivo no WhatsApp.'),
      reason.wrap,
      h('div', { class: 'actions' }, back, ok));
    const dialog = h('dialog', { class: 'dialog', 'aria-label': 'Cancelar pedido' }, form);
    const finish = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = reason.input.value.trim();
      if (!text) {
        reason.error.textContent = 'Informe o motivo.';
        reason.input.setAttribute('aria-invalid', 'true');
        reason.input.focus();
        return;
      }
      finish(text);
    });
    back.addEventListener('click', () => finish(null));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); finish(null); });
    document.body.append(dialog);
    dialog.showModal();
    reason.input.focus();
  });
}
