// "/conversas": the inbox of one WhatsApp connection. The chats (newest first, unread counts,
// who is answering), one conversation (customer, attendant, owner from the phone or from
// here, with delivery status), a composer that answers as the owner through the same
// number (the attendant pauses in that chat), and pause / resume / off per chat. On a
// phone the list and the conversation are two screens. Live: the change feed is polled
// every POLL_MS (cheap when nothing changed) and what changed is read again.

import { api, enc } from '../api.js';
import { busy, formatDate, h, toast } from '../ui.js';
import { pickStore } from '../store-picker.js';

const POLL_MS = 1500;

/** Who answers a chat, as the owner reads it. */
export const BOT_LABEL = { active: 'atendente', paused: 'você', off: 'pausado' };
const ROLE_LABEL = { customer: 'Cliente', bot: 'Atendente', owner: 'Você' };
const STATUS_LABEL = { pending: 'enviando', sent: 'enviada', delivered: 'entregue', read: 'lida', failed: 'não enviada' };

export function mount(main) {
  let alive = true;
  let stop = () => {};
  const body = h('div', { 'aria-busy': 'true' });
  main.append(
    h('h1', {}, 'Conversas'),
    h('p', { class: 'lead' }, 'Acompanhe o atendente, responda você mesmo e pause o atendente em uma conversa.'),
    body);
  pickStore(body, () => alive, (storeId) => {
    stop();
    const view = inbox(storeId, () => alive);
    stop = view.stop;
    return view.el;
  });
  return () => { alive = false; stop(); };
}

function customerName(chat) {
  const c = chat.customer || {};
  if (c.name) return c.name;
  if (c.phone) return `+${c.phone}`;
  return chat.chatId.split(':').slice(1).join(':');
}

function inbox(storeId, isAlive) {
  const base = `/api/whatsapp/${enc(storeId)}`;
  let stopped = false;
  let cursor = null;
  let open = null; // the chat shown: {chatId, ...}
  let chats = [];
  let next = null;
  let query = '';
  let timer = null;

  const el = h('div', { class: 'inbox', dataset: { view: 'list' } });
  const search = h('input', { type: 'search', id: `inbox-q-${storeId}`, name: 'q', autocomplete: 'off', placeholder: 'Nome ou número' });
  const list = h('ul', { class: 'chat-list', 'aria-label': 'Conversas' });
  const more = h('button', { type: 'button', class: 'btn btn-ghost', hidden: true }, 'Carregar mais conversas');
  const listError = h('p', { class: 'form-error', role: 'alert' });
  const listPane = h('section', { class: 'card inbox-list', 'aria-label': 'Lista de conversas' },
    h('div', { class: 'field' }, h('label', { for: search.id }, 'Buscar conversa'), search),
    listError, list, more);

  const title = h('h2', { class: 'chat-title' }, '');
  const mode = h('span', { class: 'badge' });
  const back = h('button', { type: 'button', class: 'btn btn-ghost back' }, '← Conversas');
  const pause = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Pausar atendente');
  const resume = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Retomar atendente');
  const off = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Desligar nesta conversa');
  const older = h('button', { type: 'button', class: 'btn btn-ghost', hidden: true }, 'Mensagens anteriores');
  const messages = h('ol', { class: 'messages', 'aria-label': 'Mensagens', 'aria-live': 'polite' });
  const text = h('textarea', { id: `inbox-text-${storeId}`, name: 'text', rows: 2, maxlength: 4096 });
  const send = h('button', { type: 'submit', class: 'btn' }, 'Enviar');
  const sendError = h('p', { class: 'form-error', role: 'alert' });
  const composer = h('form', { class: 'composer', novalidate: true },
    h('label', { for: text.id }, 'Sua mensagem'), text, sendError, h('div', { class: 'actions' }, send));
  const chatPane = h('section', { class: 'card inbox-chat', 'aria-label': 'Conversa' },
    h('div', { class: 'chat-head' }, back, title, mode),
    h('div', { class: 'actions chat-actions' }, pause, resume, off),
    older, messages, composer);
  chatPane.hidden = true;
  el.append(listPane, chatPane);

  const chatItem = (chat) => {
    const last = chat.lastMessage || {};
    const who = last.role === 'owner' ? 'Você: ' : last.role === 'bot' ? 'Atendente: ' : '';
    const button = h('button', { type: 'button', class: 'chat-open', onclick: () => openChat(chat) },
      h('span', { class: 'chat-name' }, customerName(chat)),
      h('span', { class: 'chat-when' }, formatDate(last.at)),
      h('span', { class: 'chat-last' }, who + (last.text || '')),
      h('span', { class: `badge bot-${chat.bot}` }, BOT_LABEL[chat.bot] || chat.bot),
      chat.unread ? h('span', { class: 'unread', 'aria-label': `${chat.unread} não lidas` }, String(chat.unread)) : null);
    return h('li', { class: 'chat', dataset: { chatId: chat.chatId }, 'aria-current': open && open.chatId === chat.chatId ? 'true' : null }, button);
  };

  const showList = () => {
    list.replaceChildren(...chats.map(chatItem));
    // A search reads a slice of the list per request: none found yet may mean "not among
    // the most recent"; the button goes on through the older ones.
    const none = !query ? 'Nenhuma conversa ainda.'
      : next ? 'Nenhuma entre as conversas mais recentes. Carregue mais para buscar nas antigas.'
        : 'Nenhuma conversa encontrada.';
    if (!chats.length) list.append(h('li', { class: 'empty' }, none));
    more.hidden = !next;
  };

  const loadChats = async ({ append = false } = {}) => {
    const params = new URLSearchParams();
    if (query) params.set('q', query);
    if (append && next) params.set('cursor', next);
    try {
      const page = await api('GET', `${base}/chats?${params}`);
      if (stopped) return;
      chats = append ? chats.concat(page.data) : page.data;
      next = page.next || null;
      listError.textContent = '';
      showList();
      if (open) {
        const fresh = chats.find((c) => c.chatId === open.chatId);
        if (fresh) showHeader(fresh);
      }
    } catch (err) {
      listError.textContent = err.message;
    }
  };

  const showHeader = (chat) => {
    open = chat;
    title.textContent = customerName(chat);
    mode.textContent = chat.bot === 'paused' && chat.pausedUntil
      ? `você responde até ${formatDate(chat.pausedUntil)}`
      : `responde: ${BOT_LABEL[chat.bot] || chat.bot}`;
    mode.className = `badge bot-${chat.bot}`;
    pause.hidden = chat.bot === 'paused';
    resume.hidden = chat.bot === 'active';
    off.hidden = chat.bot === 'off';
  };

  let olderCursor = null;
  const messageItem = (m) => h('li', { class: `msg msg-${m.role}`, dataset: { id: m.id } },
    h('span', { class: 'who' }, ROLE_LABEL[m.role] || m.role,
      m.role === 'owner' && m.source === 'phone' ? ' (celular)' : ''),
    h('p', { class: 'text' }, m.text),
    h('span', { class: 'meta' }, formatDate(m.at), m.status ? ` · ${STATUS_LABEL[m.status] || m.status}` : ''));

  const loadMessages = async ({ earlier = false } = {}) => {
    if (!open) return;
    const chatId = open.chatId;
    const params = new URLSearchParams();
    if (earlier && olderCursor) params.set('before', olderCursor);
    try {
      const page = await api('GET', `${base}/chats/${enc(chatId)}/messages?${params}`);
      if (stopped || !open || open.chatId !== chatId) return;
      const items = page.data.map(messageItem);
      if (earlier) messages.prepend(...items);
      else {
        const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
        messages.replaceChildren(...items);
        if (atBottom || !messages.dataset.loaded) messages.scrollTop = messages.scrollHeight;
        messages.dataset.loaded = '1';
      }
      if (earlier || !olderCursor) olderCursor = page.next || null;
      older.hidden = !olderCursor;
    } catch (err) {
      sendError.textContent = err.message;
    }
  };

  const markRead = async () => {
    if (!open || !open.unread) return;
    try {
      const read = await api('POST', `${base}/chats/${enc(open.chatId)}/read`, {});
      showHeader(read.data);
      chats = chats.map((c) => (c.chatId === read.data.chatId ? read.data : c));
      showList();
    } catch { /* the count stays; the next change tries again */ }
  };

  const openChat = async (chat) => {
    showHeader(chat);
    olderCursor = null;
    delete messages.dataset.loaded;
    messages.replaceChildren();
    sendError.textContent = '';
    chatPane.hidden = false;
    el.dataset.view = 'chat';
    showList();
    await loadMessages();
    await markRead();
    text.focus();
  };

  const setBot = async (button, body) => {
    if (!open) return;
    await busy(button, async () => {
      try {
        const answer = await api('POST', `${base}/chats/${enc(open.chatId)}/bot`, body);
        showHeader(answer.data);
        toast(body.mode === 'active' ? 'O atendente voltou a responder nesta conversa.'
          : body.mode === 'off' ? 'O atendente está desligado nesta conversa.'
            : 'O atendente está pausado nesta conversa.');
        loadChats();
      } catch (err) {
        toast(err.message, 'error');
      }
    });
  };

  back.addEventListener('click', () => { el.dataset.view = 'list'; });
  pause.addEventListener('click', () => setBot(pause, { mode: 'paused' }));
  resume.addEventListener('click', () => setBot(resume, { mode: 'active' }));
  off.addEventListener('click', () => setBot(off, { mode: 'off' }));
  older.addEventListener('click', () => loadMessages({ earlier: true }));
  more.addEventListener('click', () => loadChats({ append: true }));
  let searchTimer = null;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { query = search.value.trim(); loadChats(); }, 250);
  });
  composer.addEventListener('submit', async (event) => {
    event.preventDefault();
    sendError.textContent = '';
    const message = text.value.trim();
    if (!message) {
      sendError.textContent = 'Escreva a mensagem antes de enviar.';
      text.focus();
      return;
    }
    await busy(send, async () => {
      try {
        await api('POST', `${base}/chats/${enc(open.chatId)}/messages`, { text: message });
        text.value = '';
        await loadMessages();
        await loadChats();
      } catch (err) {
        sendError.textContent = err.message;
      }
    });
  });
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) composer.requestSubmit();
  });

  // Live updates: one cheap call per tick; only what changed is read again.
  const poll = async () => {
    if (stopped || !isAlive()) return;
    try {
      const url = cursor ? `${base}/changes?since=${enc(cursor)}` : `${base}/changes`;
      const feed = await api('GET', url);
      cursor = feed.cursor;
      if (feed.changes.length) {
        await loadChats();
        if (open && feed.changes.some((c) => c.chatId === open.chatId)) {
          await loadMessages();
          if (el.dataset.view === 'chat' && document.visibilityState === 'visible') await markRead();
        }
      }
    } catch { /* offline for a moment: the next tick tries again */ }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  };

  // The feed's cursor first, then the list: nothing that changes in between is missed.
  (async () => {
    try {
      cursor = (await api('GET', `${base}/changes`)).cursor;
    } catch { /* the first tick asks again */ }
    await loadChats();
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  })();
  return {
    el,
    stop: () => { stopped = true; clearTimeout(timer); clearTimeout(searchTimer); },
  };
}
