// "/": sign in. Locally a user id is enough (a dev token is minted); in AWS, Stack Auth.

import { devSignIn, stackSignIn } from '../auth.js';
import { busy, field, h, showError } from '../ui.js';

export function mount(main, { config, navigate }) {
  const dev = config.auth === 'dev';
  const form = h('form', { class: 'card narrow', novalidate: true });
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Entrar');
  let read;
  if (dev) {
    const user = field({
      label: 'Identificador do usuário',
      name: 'userId',
      hint: 'Ambiente local: escolha qualquer identificador (letras, números, . _ - @). Cada um vê só os próprios dados.',
      autocomplete: 'username',
      required: true,
      autocapitalize: 'none',
      spellcheck: 'false',
    });
    form.append(user.wrap);
    read = () => {
      if (!user.input.value.trim()) throw { field: 'userId', message: 'Informe o identificador.' };
      return devSignIn(user.input.value);
    };
  } else {
    const email = field({ label: 'E-mail', name: 'email', type: 'email', autocomplete: 'email', required: true });
    const password = field({
      label: 'Senha', name: 'password', type: 'password', autocomplete: 'current-password', required: true,
    });
    form.append(email.wrap, password.wrap);
    read = () => stackSignIn(email.input.value.trim(), password.input.value);
  }
  form.append(h('p', { class: 'form-error', role: 'alert' }), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await busy(submit, read);
      navigate('/dashboard', { replace: true });
    } catch (err) {
      showError(form, err);
    }
  });
  main.append(
    h('h1', {}, 'Entrar no Platefull'),
    h('p', { class: 'lead' }, 'Gerencie suas conexões de WhatsApp, a conta Saipos e o atendente virtual do seu restaurante.'),
    dev ? h('p', { class: 'notice' }, 'Ambiente local (platefull dev): o login é simulado.') : null,
    form,
  );
  form.querySelector('input').focus();
}
