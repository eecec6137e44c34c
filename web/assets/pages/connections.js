// "/connections": the 3 slots (numbers) of each WhatsApp connection with live status. Connect
// shows the QR code and refreshes it until the phone links; disconnect unlinks. On the local
// stack a simulator panel pairs a slot and chats as a customer.

import { api, enc, simulator } from '../api.js';
import { busy, confirmDialog, field, formatDate, h, toast } from '../ui.js';

export const SLOT_STATUS = {
  connected: 'conectado',
  qrcode: 'aguardando leitura do QR',
  connecting: 'conectando',
  disconnected: 'desconectado',
};

const POLL_MS = 2000;
const OUTBOX_POLL_MS = 1500;

export function mount(main, { config }) {
  let alive = true;
  const timers = [];
  const stores = []; // {api, slots: Map(slot → {update, data})}
  const container = h('div', { class: 'connections', 'aria-busy': 'true' });
  const chat = config.simulator ? simulatorPanel(stores) : null;

  async function refresh(store) {
    try {
      const { data } = await api('GET', `/api/whatsapp/${enc(store.api.storeId)}/sessions`);
      if (!alive) return;
      for (const slot of data) store.slots.get(slot.slot)?.update(slot);
      if (chat) chat.sync();
    } catch (err) {
      if (alive) store.error.textContent = err.message;
    }
  }

  async function load() {
    let apis;
    try {
      apis = (await api('GET', '/api/user-apis')).filter((a) => a.type === 'whatsapp');
    } catch (err) {
      container.replaceChildren(h('p', { class: 'form-error' }, err.message));
      return;
    } finally {
      container.setAttribute('aria-busy', 'false');
    }
    if (!alive) return;
    if (!apis.length) {
      container.replaceChildren(h('p', { class: 'empty' },
        'Nenhuma conexão de WhatsApp ainda. ',
        h('a', { href: '/dashboard', 'data-link': true }, 'Adicione uma no painel'), '.'));
      return;
    }
    for (const item of apis) {
      const store = { api: item, slots: new Map(), error: h('p', { class: 'form-error', role: 'alert' }) };
      stores.push(store);
      const titleId = `conn-${item.id}`;
      const list = h('ul', { class: 'slots' });
      for (const n of [1, 2, 3]) {
        const slot = slotCard(store, n, () => refresh(store), config.simulator);
        store.slots.set(n, slot);
        list.append(slot.el);
      }
      container.append(h('section', { class: 'card connection', 'aria-labelledby': titleId, dataset: { storeId: item.storeId } },
        h('header', { class: 'card-head' },
          h('h2', { id: titleId }, item.name),
          h('span', { class: 'mono small' }, item.storeId)),
        store.error,
        list));
      await refresh(store);
      const timer = setInterval(() => refresh(store), POLL_MS);
      timers.push(timer);
    }
  }

  main.append(
    h('h1', {}, 'Conexões de WhatsApp'),
    h('p', { class: 'lead' },
      'Cada conexão tem até 3 números. Toque em “Conectar” e leia o QR code com o WhatsApp do celular: ',
      'Configurações › Aparelhos conectados › Conectar um aparelho.'),
    container,
    chat ? chat.el : null);
  load();
  return () => {
    alive = false;
    timers.forEach(clearInterval);
    if (chat) chat.stop();
  };
}

function slotCard(store, n, refresh, withSimulator) {
  const { api: item } = store;
  const titleId = `slot-${item.storeId}-${n}`;
  const badge = h('span', { class: 'badge' }, '…');
  const phone = h('p', { class: 'phone' });
  const error = h('p', { class: 'reason' });
  const img = h('img', { alt: `QR code para conectar o número ${n} de ${item.name}`, width: 220, height: 220 });
  const qr = h('figure', { class: 'qr', hidden: true }, img,
    h('figcaption', {}, 'Leia com o WhatsApp do celular. O código se renova sozinho.'));
  const note = h('p', { class: 'result', role: 'status' });
  // Buttons appear once the slot's status is known.
  const connect = h('button', { type: 'button', class: 'btn btn-small', hidden: true }, 'Conectar');
  const disconnect = h('button', { type: 'button', class: 'btn btn-small btn-danger', hidden: true }, 'Desconectar');
  const pair = withSimulator
    ? h('button', { type: 'button', class: 'btn btn-small btn-ghost', hidden: true }, 'Parear (simulador)')
    : null;
  const el = h('li', { class: 'slot', 'aria-labelledby': titleId, dataset: { slot: String(n) } },
    h('div', { class: 'slot-head' }, h('h3', { id: titleId }, `Número ${n}`), badge),
    phone, error, qr, note,
    h('div', { class: 'actions' }, connect, pair, disconnect));
  let current = null;

  function update(slot) {
    if (current && current.status !== slot.status) note.textContent = '';
    current = slot;
    el.dataset.status = slot.status;
    badge.textContent = SLOT_STATUS[slot.status] || slot.status;
    badge.className = `badge slot-${slot.status}`;
    const seen = slot.lastSeenAt ? ` · visto em ${formatDate(slot.lastSeenAt)}` : '';
    const ban = slot.bannedUntil ? ` · banido até ${formatDate(slot.bannedUntil)}` : '';
    phone.textContent = slot.phone ? `Telefone: +${slot.phone}${seen}${ban}` : ban.slice(3);
    error.textContent = slot.lastError && slot.status !== 'connected' ? `Última queda: ${slot.lastError}` : '';
    const showQr = slot.status === 'qrcode' && !!slot.qrCode;
    if (showQr && img.getAttribute('src') !== slot.qrCode) img.src = slot.qrCode;
    qr.hidden = !showQr;
    connect.hidden = slot.status !== 'disconnected';
    disconnect.hidden = slot.status === 'disconnected';
    if (pair) pair.hidden = slot.status !== 'qrcode';
    el.title = slot.updatedAt ? `Atualizado em ${formatDate(slot.updatedAt)}` : '';
  }

  connect.addEventListener('click', () => busy(connect, async () => {
    note.textContent = 'Pedindo o QR code…';
    try {
      const result = await api('POST', `/api/whatsapp/${enc(item.storeId)}/${n}/start`);
      update({ ...current, status: result.status, qrCode: result.qrCode, phone: result.phone || current?.phone });
      if (result.status !== 'qrcode' && result.status !== 'connected') {
        note.textContent = 'Preparando… o QR code aparece em instantes.';
      }
      await refresh();
    } catch (err) {
      note.textContent = err.message;
    }
  }));

  disconnect.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Desconectar o número ${n}?`,
      message: 'O WhatsApp deste número deixa de ser atendido pelo Platefull até você conectar de novo.',
      confirm: 'Desconectar',
      danger: true,
    });
    if (!ok) return;
    await busy(disconnect, async () => {
      try {
        await api('POST', `/api/whatsapp/${enc(item.storeId)}/${n}/logout`);
        note.textContent = '';
        await refresh();
        toast(`Número ${n} desconectado.`);
      } catch (err) {
        note.textContent = err.message;
      }
    });
  });

  if (pair) {
    pair.addEventListener('click', () => busy(pair, async () => {
      try {
        // As a phone reads the QR: the pairing code, asked with the owner's token.
        const { code } = await api('GET', `/dev/simulator/${enc(item.storeId)}/${n}/pairing`);
        const result = await simulator('POST', `/${enc(item.storeId)}/${n}/pair?code=${enc(code)}`, {});
        await refresh();
        note.textContent = `Simulador: pareado com +${result.phone}.`;
      } catch (err) {
        note.textContent = err.message;
      }
    }));
  }

  return { el, update, get data() { return current; } };
}

/** The local simulator's chat: a customer writes to a connected number; the replies appear. */
function simulatorPanel(stores) {
  const target = field({ label: 'Número conectado', name: 'target', control: 'select', options: [] });
  const phone = field({
    label: 'Telefone do cliente', name: 'from', inputmode: 'numeric', autocomplete: 'off', value: '5511999990000',
    hint: 'Só dígitos, com DDI e DDD.',
  });
  const text = field({ label: 'Mensagem do cliente', name: 'text', control: 'textarea', rows: 2 });
  const send = h('button', { type: 'submit', class: 'btn' }, 'Enviar como cliente');
  const log = h('ol', { class: 'chat-log', 'aria-live': 'polite', 'aria-label': 'Conversa' });
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const waiting = h('p', { class: 'hint waiting', role: 'status' });
  const form = h('form', { class: 'sim-form', novalidate: true },
    target.wrap, phone.wrap, text.wrap, formError, h('div', { class: 'actions' }, send));
  const el = h('section', { class: 'card simulator', 'aria-labelledby': 'sim-title' },
    h('h2', { id: 'sim-title' }, 'Simulador de WhatsApp (ambiente local)'),
    h('p', { class: 'hint' }, 'Escreva como se fosse um cliente mandando mensagem para um número conectado e veja a resposta do atendente.'),
    form, log, waiting);

  let conversation = null; // {storeId, slot, chat, mine: [{text, at}], replies: []}
  let timer = null;

  function sync() {
    const connected = [];
    for (const store of stores) {
      for (const [n, slot] of store.slots) {
        if (slot.data && slot.data.status === 'connected') {
          connected.push([`${store.api.storeId}|${n}`, `${store.api.name} · número ${n}${slot.data.phone ? ` (+${slot.data.phone})` : ''}`]);
        }
      }
    }
    const select = target.input;
    const key = JSON.stringify(connected);
    if (select.dataset.options === key) return;
    const previous = select.value;
    select.replaceChildren(...(connected.length
      ? connected.map(([value, label]) => h('option', { value }, label))
      : [h('option', { value: '' }, 'Nenhum número conectado')]));
    if (connected.some(([value]) => value === previous)) select.value = previous;
    select.dataset.options = key;
    send.disabled = !connected.length;
  }

  function render() {
    if (!conversation) {
      log.replaceChildren();
      return;
    }
    const entries = [
      ...conversation.mine.map((m) => ({ who: 'cliente', text: m.text, at: m.at })),
      ...conversation.replies.map((r) => ({ who: 'atendente', text: r.text, at: Date.parse(r.sentAt) || 0 })),
    ].sort((a, b) => a.at - b.at);
    log.replaceChildren(...entries.map((e) => h('li', { class: `msg msg-${e.who}` },
      h('span', { class: 'who' }, e.who === 'cliente' ? 'Cliente' : 'Atendente'),
      h('span', { class: 'text' }, e.text))));
  }

  async function pollOutbox() {
    if (!conversation) return;
    const c = conversation;
    try {
      const { data } = await simulator('GET', `/${enc(c.storeId)}/${c.slot}/outbox?chat=${enc(c.chat)}`);
      if (c !== conversation) return;
      if (data.length !== c.replies.length) {
        if (data.length > c.replies.length) waiting.textContent = '';
        c.replies = data;
        render();
      }
    } catch {
      // The next poll tries again.
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.textContent = '';
    const [storeId, slot] = (target.input.value || '').split('|');
    if (!storeId) {
      formError.textContent = 'Conecte um número primeiro (use “Parear (simulador)”).';
      return;
    }
    const from = phone.input.value.trim();
    const message = text.input.value.trim();
    if (!message) {
      formError.textContent = 'Escreva a mensagem.';
      text.input.focus();
      return;
    }
    if (!conversation || conversation.storeId !== storeId || conversation.slot !== slot || conversation.chat !== from) {
      conversation = { storeId, slot, chat: from, mine: [], replies: [] };
      waiting.textContent = '';
      await pollOutbox(); // what this customer was already sent
    }
    await busy(send, async () => {
      try {
        await simulator('POST', `/${enc(storeId)}/${slot}/messages`, { from, text: message });
        conversation.mine.push({ text: message, at: Date.now() });
        text.input.value = '';
        waiting.textContent = 'Aguardando a resposta do atendente…';
        render();
        await pollOutbox();
        if (!timer) timer = setInterval(pollOutbox, OUTBOX_POLL_MS);
      } catch (err) {
        formError.textContent = err.message;
      }
    });
  });

  sync();
  return { el, sync, stop: () => clearInterval(timer) };
}
