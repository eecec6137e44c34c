// The console's shell: loads the config, routes between pages with the History API, and
// keeps the header (navigation, who is signed in) in step with the session.

import { hooks, MESSAGES } from './api.js';
import { loadConfig, session, signOut } from './auth.js';
import { toast } from './ui.js';
import * as signIn from './pages/sign-in.js';
import * as dashboard from './pages/dashboard.js';
import * as connections from './pages/connections.js';
import * as tools from './pages/tools.js';
import * as menu from './pages/menu.js';
import * as store from './pages/store.js';
import * as orders from './pages/orders.js';
import * as conversas from './pages/conversas.js';

const pages = {
  '/': { module: signIn, title: 'Entrar' },
  '/dashboard': { module: dashboard, title: 'Painel', auth: true },
  '/connections': { module: connections, title: 'Conexões', auth: true },
  '/whatsapp-tools': { module: tools, title: 'Atendente', auth: true },
  '/cardapio': { module: menu, title: 'Cardápio', auth: true },
  '/loja': { module: store, title: 'Loja', auth: true },
  '/pedidos': { module: orders, title: 'Pedidos', auth: true },
  '/conversas': { module: conversas, title: 'Conversas', auth: true },
};

let cleanup = null;
let config = null;

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

function header() {
  const current = session();
  document.getElementById('nav').hidden = !current;
  document.getElementById('session').hidden = !current;
  document.getElementById('who').textContent = current ? current.userId : '';
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === location.pathname) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function render() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  let path = location.pathname.replace(/\/+$/, '') || '/';
  if (!pages[path]) path = '/dashboard';
  if (pages[path].auth && !session()) {
    history.replaceState(null, '', '/');
    path = '/';
  } else if (path === '/' && session()) {
    history.replaceState(null, '', '/dashboard');
    path = '/dashboard';
  }
  const page = pages[path];
  document.title = `${page.title} · Platefull`;
  header();
  const main = document.getElementById('main');
  main.replaceChildren();
  cleanup = page.module.mount(main, { config, navigate }) || null;
  // Move focus to the new page (for screen readers), unless the page focused a field itself.
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

async function start() {
  try {
    config = await loadConfig();
  } catch (err) {
    document.getElementById('main').textContent = `Não foi possível abrir o painel: ${err.message}`;
    return;
  }
  hooks.onUnauthorized = (error) => {
    signOut();
    toast(MESSAGES[error && error.code] || 'Sua sessão expirou. Entre de novo.', 'error');
    navigate('/', { replace: true });
  };
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-link]');
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    if (link.getAttribute('href') !== location.pathname) navigate(link.getAttribute('href'));
  });
  document.getElementById('sign-out').addEventListener('click', () => {
    signOut();
    navigate('/', { replace: true });
  });
  window.addEventListener('popstate', render);
  render();
}

start();
