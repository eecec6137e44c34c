// The store a page works on: the owner's WhatsApp connections (each is a store) in a
// select, the choice remembered for the tab so /whatsapp-tools, /cardapio and /loja open on
// the same store.

import { api } from './api.js';
import { field, h } from './ui.js';

const CHOICE_KEY = 'platefull.tools.storeId';

/**
 * Fills `body` with the picker and, below it, what `render(storeId)` returns for the chosen
 * store (again on every change). `isAlive()` says whether the page is still shown.
 */
export async function pickStore(body, isAlive, render) {
  let apis;
  try {
    apis = (await api('GET', '/api/user-apis')).filter((a) => a.type === 'whatsapp');
  } catch (err) {
    body.replaceChildren(h('p', { class: 'form-error' }, err.message));
    return;
  } finally {
    body.setAttribute('aria-busy', 'false');
  }
  if (!isAlive()) return;
  if (!apis.length) {
    body.replaceChildren(h('p', { class: 'empty' },
      'Nenhuma conexão de WhatsApp ainda. ',
      h('a', { href: '/dashboard', 'data-link': true }, 'Adicione uma no painel'), '.'));
    return;
  }
  const picker = field({
    label: 'Conexão', name: 'connection', control: 'select', options: apis.map((a) => [a.storeId, a.name]),
  });
  const saved = sessionStorage.getItem(CHOICE_KEY);
  if (apis.some((a) => a.storeId === saved)) picker.input.value = saved;
  const holder = h('div', {});
  body.replaceChildren(h('div', { class: 'card picker' }, picker.wrap), holder);
  const show = () => {
    sessionStorage.setItem(CHOICE_KEY, picker.input.value);
    holder.replaceChildren(render(picker.input.value));
  };
  picker.input.addEventListener('change', show);
  show();
}
