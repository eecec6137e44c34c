// Small DOM helpers shared by the pages: an element builder, field errors from the API's
// error contract, a status toast and a confirmation dialog.

/** Creates an element: h('button', {type: 'button', onclick}, 'Texto', child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key in el && typeof value !== 'string') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : value);
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let nextId = 0;
/** A unique id for label/field pairs. */
export function uid(prefix = 'f') {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * A labelled field: returns {wrap, input, error}. `control` is 'input', 'textarea' or
 * 'select'; the error element is linked with aria-describedby.
 */
export function field({ label, name, control = 'input', hint, options, ...attrs }) {
  const id = uid(name);
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : undefined;
  const input = h(control, { id, name, ...attrs });
  if (control === 'select') {
    for (const [value, text] of options) input.append(h('option', { value }, text));
  }
  input.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  const error = h('p', { class: 'field-error', id: errorId, dataset: { errorFor: name } });
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    input,
    error);
  return { wrap, input, error };
}

/** Clears the error marks of a form. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('[data-error-for]')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const summary = form.querySelector('.form-error');
  if (summary) summary.textContent = '';
}

/**
 * Shows an API error on a form: next to the field it names (and focuses it), else in the
 * form's summary line.
 */
export function showError(form, err) {
  clearErrors(form);
  const message = err && err.message ? err.message : String(err);
  // The field's own error line, or the nearest enclosing one (`…neighborhoods[3]` →
  // `…neighborhoods`, `hours.weekly.fri[6]` → `hours.weekly.fri`).
  let fieldName = err && err.field;
  let target = null;
  while (fieldName && !(target = form.querySelector(`[data-error-for="${CSS.escape(fieldName)}"]`))) {
    const shorter = fieldName.replace(/(\[\d+\]|\.[^.[\]]+)$/, '');
    fieldName = shorter !== fieldName ? shorter : null;
  }
  if (target) {
    target.textContent = message;
    const input = form.querySelector(`[name="${CSS.escape(fieldName)}"]`);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
    const summary = form.querySelector('.form-error');
    if (summary) summary.textContent = 'Não foi possível salvar: corrija o campo indicado.';
  } else {
    const summary = form.querySelector('.form-error');
    if (summary) summary.textContent = message;
    else toast(message, 'error');
  }
}

let toastTimer;
/** A short message in the live region at the bottom of the screen. */
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.dataset.kind = kind;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 5000);
}

/** Asks for confirmation in a modal dialog; resolves true when confirmed. */
export function confirmDialog({ title, message, confirm = 'Confirmar', danger = false }) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title),
      h('p', {}, message));
    const cancelBtn = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Cancelar');
    const okBtn = h('button', { type: 'button', class: danger ? 'btn btn-danger' : 'btn' }, confirm);
    dialog.append(h('div', { class: 'actions' }, cancelBtn, okBtn));
    const finish = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    cancelBtn.addEventListener('click', () => finish(false));
    okBtn.addEventListener('click', () => finish(true));
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); finish(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancelBtn.focus();
  });
}

/** Formats an RFC 3339 timestamp for people in Brazil. */
export function formatDate(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return date.toLocaleString('pt-BR', { dateStyle: 'short', timeStyle: 'short' });
}

/** Formats a number of reais. */
export function money(value) {
  return Number(value || 0).toLocaleString('pt-BR', { style: 'currency', currency: 'BRL' });
}

/** Disables a button while `work` runs. */
export async function busy(button, work) {
  const was = button.disabled;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = was;
    button.removeAttribute('aria-busy');
  }
}
