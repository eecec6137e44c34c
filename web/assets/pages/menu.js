// "/cardapio": the menu of one store, edited as a whole (categories, items with price in
// R$, availability, option groups) and saved with PUT; the "Disponível" switch of a saved
// item PATCHes at once (sold out in one click); a CSV import shows what it would change (a
// dry run) before it replaces the menu. Every input is named by its path in the menu
// (`categories[2].items[0].priceCents`), so the API's validation error lands next to it.

import { api, enc } from '../api.js';
import { csvRowMessage, CSV_COLUMNS, fieldMessage } from '../messages.js';
import { formatCents, parseReais, reais } from '../money.js';
import { pickStore } from '../store-picker.js';
import {
  busy, clearErrors, confirmDialog, field, formatDate, h, showError, toast, uid,
} from '../ui.js';

export function mount(main) {
  let alive = true;
  const body = h('div', { 'aria-busy': 'true' });
  main.append(
    h('h1', {}, 'Cardápio'),
    h('p', { class: 'lead' },
      'Categorias, itens, preços e opções. O atendente consulta só o que está aqui para informar preços; ',
      'marque “Disponível” para tirar ou devolver um item na hora.'),
    body);
  pickStore(body, () => alive, (storeId) => menuEditor(storeId, () => alive));
  return () => { alive = false; };
}

/** An id of the menu's kind ([a-z0-9-], at most 40): a prefix and random letters. */
function newId(prefix) {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `${prefix}-${random[0].toString(36)}${random[1].toString(36)}`.slice(0, 40);
}

const emptyItem = () => ({ id: newId('i'), name: '', description: '', priceCents: null, available: true, optionGroups: [] });
const emptyGroup = () => ({ id: newId('g'), name: '', min: 0, max: 1, options: [] });
const emptyOption = () => ({ id: newId('o'), name: '', priceCents: 0 });

/**
 * The menu as the API wants it, from the editor's copy: every field the API keeps, in the
 * order GET gives them, so a save sends GET's own bytes for what wasn't edited (the API then
 * parses only the categories that changed).
 */
function toApi(menu) {
  return {
    categories: menu.categories.map((c) => ({
      id: c.id,
      name: c.name,
      items: c.items.map((i) => ({
        id: i.id,
        name: i.name,
        ...(i.description && i.description.trim() ? { description: i.description } : {}),
        priceCents: i.priceCents,
        available: !!i.available,
        optionGroups: (i.optionGroups || []).map((g) => ({
          id: g.id,
          name: g.name,
          min: g.min,
          max: g.max,
          options: g.options.map((o) => ({ id: o.id, name: o.name, priceCents: o.priceCents })),
        })),
        ...(i.saiposCode && i.saiposCode.trim() ? { saiposCode: i.saiposCode.trim() } : {}),
      })),
    })),
  };
}

/** Problems the console sees before sending: a price or a number it can't read. */
function localProblem(menu) {
  for (const [ci, c] of menu.categories.entries()) {
    for (const [ii, item] of c.items.entries()) {
      const at = `categories[${ci}].items[${ii}]`;
      if (item.priceCents === null) return { field: `${at}.priceCents`, message: 'Informe o preço, como 45,90.' };
      if (Number.isNaN(item.priceCents)) return { field: `${at}.priceCents`, message: 'Preço inválido: use o formato 45,90.' };
      for (const [gi, g] of (item.optionGroups || []).entries()) {
        const gAt = `${at}.optionGroups[${gi}]`;
        for (const key of ['min', 'max']) {
          if (!Number.isInteger(g[key]) || g[key] < 0) return { field: `${gAt}.${key}`, message: 'Informe um número inteiro, 0 ou mais.' };
        }
        for (const [oi, o] of g.options.entries()) {
          if (o.priceCents === null || Number.isNaN(o.priceCents)) {
            return { field: `${gAt}.options[${oi}].priceCents`, message: 'Preço inválido: use o formato 5,00 (ou 0 para sem acréscimo).' };
          }
        }
      }
    }
  }
  return null;
}

function menuEditor(storeId, isAlive) {
  const base = `/api/client/${enc(storeId)}/menu`;
  let menu = { categories: [] };
  let savedIds = new Set(); // items the API has: their switch PATCHes at once
  let saved = { categories: [] }; // the menu as last read or saved
  let dirty = false;

  const form = h('form', { class: 'card menu-form', novalidate: true, 'aria-label': 'Cardápio', 'aria-busy': 'true' });
  const list = h('ol', { class: 'menu-categories' });
  const state = h('p', { class: 'hint', role: 'status' });
  const addCategory = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Adicionar categoria');
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Salvar cardápio');
  form.append(
    list,
    h('div', { class: 'actions' }, addCategory),
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions sticky-actions' }, submit, state));

  function changed() {
    dirty = true;
    state.textContent = 'Alterações não salvas.';
  }

  function loaded(data, note) {
    saved = structuredClone({ categories: (data && data.categories) || [] });
    menu = { categories: (data && data.categories) || [] };
    savedIds = new Set(menu.categories.flatMap((c) => c.items.map((i) => i.id)));
    dirty = false;
    render();
    state.textContent = note || (data && data.updatedAt ? `Última alteração: ${formatDate(data.updatedAt)}` : 'Cardápio vazio.');
  }

  async function reload(note) {
    try {
      loaded(await api('GET', base), note);
    } catch (err) {
      if (err.status === 404 && err.code === 'not_found') loaded(null, note);
      else showError(form, err);
    }
  }

  /** Renders everything again (after a structural change) and focuses `focusName`'s input. */
  function render(focusName) {
    clearErrors(form);
    list.replaceChildren(...menu.categories.map((c, ci) => categoryCard(c, ci)));
    if (!menu.categories.length) {
      list.append(h('li', { class: 'empty' }, 'Nenhuma categoria ainda. Comece com “Adicionar categoria” ou importe um CSV.'));
    }
    if (focusName) form.querySelector(`[name="${CSS.escape(focusName)}"]`)?.focus();
  }

  function text(path, label, obj, key, attrs = {}) {
    const f = field({ label, name: path, autocomplete: 'off', value: obj[key] ?? '', ...attrs });
    f.input.value = obj[key] ?? '';
    f.input.addEventListener('input', () => { obj[key] = f.input.value; changed(); });
    return f;
  }

  function price(path, label, obj, hint) {
    const f = field({
      label, name: path, inputmode: 'decimal', autocomplete: 'off', placeholder: '0,00', hint, class: 'price',
    });
    f.input.value = formatCents(obj.priceCents);
    f.input.addEventListener('input', () => { obj.priceCents = parseReais(f.input.value); changed(); });
    f.input.addEventListener('blur', () => {
      if (Number.isInteger(obj.priceCents)) f.input.value = formatCents(obj.priceCents);
    });
    return f;
  }

  function integer(path, label, obj, key) {
    const f = field({ label, name: path, type: 'number', inputmode: 'numeric', min: 0, step: 1, value: String(obj[key]) });
    f.input.value = String(obj[key]);
    f.input.addEventListener('input', () => {
      obj[key] = f.input.value.trim() === '' ? NaN : Number(f.input.value);
      changed();
    });
    return f;
  }

  /** ↑ and ↓ buttons; `what()` names the element in their labels ("a categoria Pizzas"). */
  function mover(arr, index, what, focusPrefix, nameInput) {
    const up = h('button', { type: 'button', class: 'btn btn-small btn-ghost', disabled: index === 0 }, '↑');
    const down = h('button', { type: 'button', class: 'btn btn-small btn-ghost', disabled: index === arr.length - 1 }, '↓');
    const relabel = () => {
      up.setAttribute('aria-label', `Mover ${what()} para cima`);
      down.setAttribute('aria-label', `Mover ${what()} para baixo`);
    };
    relabel();
    nameInput.addEventListener('input', relabel);
    const move = (to) => {
      [arr[index], arr[to]] = [arr[to], arr[index]];
      changed();
      render(`${focusPrefix(to)}`);
    };
    up.addEventListener('click', () => move(index - 1));
    down.addEventListener('click', () => move(index + 1));
    return [up, down];
  }

  function categoryCard(category, ci) {
    const at = `categories[${ci}]`;
    const name = text(`${at}.name`, 'Nome da categoria', category, 'name', { placeholder: 'Ex.: Pizzas' });
    const label = () => category.name || `categoria ${ci + 1}`;
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Remover categoria');
    remove.addEventListener('click', async () => {
      if (category.items.length && !(await confirmDialog({
        title: `Remover “${label()}”?`,
        message: `A categoria e seus ${category.items.length} item(ns) saem do cardápio quando você salvar.`,
        confirm: 'Remover',
        danger: true,
      }))) return;
      menu.categories.splice(ci, 1);
      changed();
      render();
    });
    const items = h('ol', { class: 'menu-items' }, category.items.map((item, ii) => itemCard(category, item, ci, ii)));
    const addItem = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Adicionar item');
    addItem.addEventListener('click', () => {
      category.items.push(emptyItem());
      changed();
      render(`${at}.items[${category.items.length - 1}].name`);
    });
    return h('li', { class: 'menu-category', dataset: { path: at } },
      h('div', { class: 'menu-head' }, name.wrap,
        h('div', { class: 'tools' }, ...mover(menu.categories, ci, () => `a categoria ${label()}`, (to) => `categories[${to}].name`, name.input), remove)),
      h('p', { class: 'field-error', dataset: { errorFor: `${at}.items` } }),
      items,
      h('div', { class: 'actions' }, addItem));
  }

  function itemCard(category, item, ci, ii) {
    const at = `categories[${ci}].items[${ii}]`;
    const label = () => item.name || `item ${ii + 1}`;
    const name = text(`${at}.name`, 'Nome do item', item, 'name', { placeholder: 'Ex.: Pizza calabresa' });
    const cost = price(`${at}.priceCents`, 'Preço (R$)', item);
    const description = text(`${at}.description`, 'Descrição (opcional)', item, 'description', { control: 'textarea', rows: 2 });
    const code = text(`${at}.saiposCode`, 'Código Saipos (opcional)', item, 'saiposCode', {
      maxlength: 60, placeholder: 'Código de integração do item na Saipos',
    });
    const switchId = uid('avail');
    const toggle = h('input', { type: 'checkbox', id: switchId, name: `${at}.available`, role: 'switch', checked: !!item.available });
    const soldOut = h('span', { class: 'badge sold-out', hidden: !!item.available }, 'esgotado');
    const note = h('p', { class: 'field-error', dataset: { errorFor: `${at}.available` } });
    toggle.addEventListener('change', async () => {
      const available = toggle.checked;
      note.textContent = '';
      if (!savedIds.has(item.id)) {
        // Not in the saved menu yet: it goes with "Salvar cardápio".
        item.available = available;
        soldOut.hidden = available;
        changed();
        return;
      }
      toggle.disabled = true;
      try {
        await api('PATCH', `${base}/items/${enc(item.id)}`, { available });
        item.available = available;
        soldOut.hidden = available;
        toast(available ? `“${label()}” está disponível de novo.` : `“${label()}” marcado como esgotado.`);
      } catch (err) {
        toggle.checked = !available;
        note.textContent = err.message;
      } finally {
        toggle.disabled = false;
      }
    });
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Remover item');
    remove.addEventListener('click', () => {
      category.items.splice(ii, 1);
      changed();
      render();
    });
    const groups = h('div', { class: 'option-groups' },
      (item.optionGroups || []).map((g, gi) => groupCard(item, g, `${at}.optionGroups[${gi}]`, gi)));
    const addGroup = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Adicionar grupo de opções');
    addGroup.addEventListener('click', () => {
      item.optionGroups = item.optionGroups || [];
      item.optionGroups.push(emptyGroup());
      changed();
      render(`${at}.optionGroups[${item.optionGroups.length - 1}].name`);
    });
    const count = (item.optionGroups || []).length;
    const details = count ? h('details', { class: 'options-panel', open: true },
      h('summary', {}, `Opções (${count} grupo${count > 1 ? 's' : ''})`),
      h('p', { class: 'hint' }, 'Ex.: “Tamanho” com mínimo 1 e máximo 1 (escolha exatamente 1); “Adicionais” com mínimo 0 e máximo 3.'),
      groups) : null;
    return h('li', { class: 'menu-item', dataset: { path: at, itemId: item.id } },
      h('div', { class: 'item-grid' }, name.wrap, cost.wrap),
      description.wrap,
      code.wrap,
      h('div', { class: 'field switch' }, toggle, h('label', { for: switchId }, 'Disponível'), soldOut, note),
      h('p', { class: 'field-error', dataset: { errorFor: `${at}.optionGroups` } }),
      details,
      h('div', { class: 'actions tools' },
        addGroup, ...mover(category.items, ii, () => `o item ${label()}`, (to) => `categories[${ci}].items[${to}].name`, name.input), remove));
  }

  function groupCard(item, group, at, gi) {
    const name = text(`${at}.name`, 'Nome do grupo', group, 'name', { placeholder: 'Ex.: Tamanho' });
    const min = integer(`${at}.min`, 'Mínimo', group, 'min');
    const max = integer(`${at}.max`, 'Máximo', group, 'max');
    const options = h('ol', { class: 'menu-options' }, group.options.map((o, oi) => {
      const oAt = `${at}.options[${oi}]`;
      const oName = text(`${oAt}.name`, 'Opção', o, 'name', { placeholder: 'Ex.: Grande' });
      const oPrice = price(`${oAt}.priceCents`, 'Acréscimo (R$)', o);
      const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Remover a opção ${o.name || oi + 1}` }, 'Remover');
      remove.addEventListener('click', () => { group.options.splice(oi, 1); changed(); render(); });
      return h('li', { class: 'menu-option' }, h('div', { class: 'item-grid' }, oName.wrap, oPrice.wrap), remove);
    }));
    const addOption = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Adicionar opção');
    addOption.addEventListener('click', () => {
      group.options.push(emptyOption());
      changed();
      render(`${at}.options[${group.options.length - 1}].name`);
    });
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger' }, 'Remover grupo');
    remove.addEventListener('click', () => { item.optionGroups.splice(gi, 1); changed(); render(); });
    return h('fieldset', { class: 'option-group', dataset: { path: at } },
      h('legend', {}, group.name || `Grupo ${gi + 1}`),
      name.wrap,
      h('div', { class: 'row' }, min.wrap, max.wrap),
      h('p', { class: 'field-error', dataset: { errorFor: `${at}.options` } }),
      options,
      h('div', { class: 'actions' }, addOption, remove));
  }

  addCategory.addEventListener('click', () => {
    menu.categories.push({ id: newId('c'), name: '', items: [] });
    changed();
    render(`categories[${menu.categories.length - 1}].name`);
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const problem = localProblem(menu);
    if (problem) {
      showError(form, problem);
      return;
    }
    await busy(submit, async () => {
      try {
        const stored = await api('PUT', base, toApi(menu));
        loaded(stored, `Cardápio salvo. Última alteração: ${formatDate(stored.updatedAt)}`);
        toast('Cardápio salvo.');
      } catch (err) {
        showError(form, err);
      }
    });
  });

  const importer = importPanel(base, () => dirty, () => saved, (note) => reload(note));
  reload().finally(() => {
    form.setAttribute('aria-busy', 'false');
    if (!isAlive()) form.replaceChildren();
  });
  return h('div', {}, form, importer);
}

const CSV_EXAMPLE = [
  'categoria;item;descrição;preço;disponível;opções',
  'Pizzas;Calabresa;Molho, calabresa e cebola;45,90;sim;"Tamanho[1]: Média=0; Grande=10,00"',
  'Bebidas;Refrigerante lata;;6,50;não;',
].join('\n');

/** Import a CSV: a dry run shows what changes; "Confirmar" imports it. */
function importPanel(base, isDirty, current, reload) {
  const file = field({ label: 'Arquivo CSV', name: 'csvFile', type: 'file', accept: '.csv,text/csv' });
  const pasted = field({
    label: 'Ou cole o conteúdo do CSV', name: 'csvText', control: 'textarea', rows: 4, spellcheck: 'false',
    placeholder: CSV_EXAMPLE,
  });
  const previewBtn = h('button', { type: 'submit', class: 'btn btn-ghost' }, 'Pré-visualizar importação');
  const out = h('div', { class: 'import-preview', 'aria-live': 'polite' });
  const form = h('form', { class: 'card import-form', novalidate: true, 'aria-labelledby': 'import-title' },
    h('h2', { id: 'import-title' }, 'Importar cardápio (CSV)'),
    h('p', { class: 'hint' },
      'Uma linha por item; a primeira linha dá o nome das colunas: ',
      `${Object.values(CSV_COLUMNS).map((c) => `“${c}”`).join(', ')} (ou em inglês: category, item, description, price, available, options). `,
      'Separe por vírgula ou ponto e vírgula (como o Excel salva). Preço como 45,90; disponível sim ou não; ',
      'opções como “Tamanho[1]: Média=0; Grande=10,00 | Adicionais[0-3]: Bacon=4,00” (entre aspas se tiver o separador). ',
      'A importação substitui o cardápio inteiro; antes, você vê o que vai mudar.'),
    file.wrap, pasted.wrap,
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions' }, previewBtn),
    out);

  /** The CSV to send: a chosen file as its bytes (the API reads UTF-8 or Latin-1, as older
   * Excel versions save), else the pasted text. */
  async function content() {
    const chosen = file.input.files && file.input.files[0];
    if (chosen) {
      const bytes = await chosen.arrayBuffer();
      return { body: bytes, empty: bytes.byteLength === 0 };
    }
    return { body: pasted.input.value, empty: !pasted.input.value.trim() };
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    out.replaceChildren();
    const { body: csv, empty } = await content();
    if (empty) {
      showError(form, { field: 'csvText', message: 'Escolha um arquivo CSV ou cole o conteúdo.' });
      return;
    }
    await busy(previewBtn, async () => {
      try {
        const preview = await api('POST', `${base}/import?dryRun=true`, csv, { contentType: 'text/csv' });
        out.replaceChildren(previewOf(preview, csv));
        out.querySelector('h3').focus();
      } catch (err) {
        out.replaceChildren(errorsOf(err));
      }
    });
  });

  function previewOf(preview, csv) {
    const menu = preview.menu || { categories: [] };
    const categories = menu.categories || [];
    const itemCount = categories.reduce((n, c) => n + c.items.length, 0);
    const confirm = h('button', { type: 'button', class: 'btn' }, 'Confirmar importação');
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Cancelar');
    cancel.addEventListener('click', () => out.replaceChildren());
    confirm.addEventListener('click', async () => {
      if (isDirty() && !(await confirmDialog({
        title: 'Descartar alterações não salvas?',
        message: 'O cardápio importado substitui o atual, inclusive o que você editou e ainda não salvou.',
        confirm: 'Importar mesmo assim',
        danger: true,
      }))) return;
      await busy(confirm, async () => {
        try {
          await api('POST', `${base}/import`, csv, { contentType: 'text/csv' });
          out.replaceChildren(h('p', { class: 'result', dataset: { kind: 'ok' } }, `Cardápio importado: ${itemCount} itens.`));
          file.input.value = '';
          pasted.input.value = '';
          toast('Cardápio importado.');
          await reload(`Cardápio importado (${itemCount} itens).`);
        } catch (err) {
          out.replaceChildren(errorsOf(err));
        }
      });
    });
    return h('section', { class: 'preview', 'aria-label': 'O que a importação muda' },
      h('h3', { tabindex: '-1' }, 'O que vai mudar'),
      diffSummary(preview.diff, menu, current()),
      h('p', {}, `Depois da importação: ${categories.length} categoria(s) e ${itemCount} item(ns).`),
      h('ul', { class: 'preview-list' }, categories.map((c) => h('li', {},
        h('strong', {}, c.name), ` — ${c.items.length} item(ns): `,
        c.items.slice(0, 8).map((i) => `${i.name} (${reais(i.priceCents)}${i.available === false ? ', esgotado' : ''})`).join(', '),
        c.items.length > 8 ? ', …' : ''))),
      h('div', { class: 'actions' }, confirm, cancel));
  }

  function errorsOf(err) {
    if (err.code === 'invalid_csv' && Array.isArray(err.rows) && err.rows.length) {
      return h('div', { class: 'csv-errors', role: 'alert' },
        h('p', { class: 'form-error' }, err.message),
        h('ul', {}, err.rows.slice(0, 50).map((row) => h('li', {}, csvRowMessage(row)))),
        err.rows.length > 50 ? h('p', { class: 'hint' }, `… e mais ${err.rows.length - 50} erro(s).`) : null);
    }
    if (err.code === 'validation_error' && err.field) {
      return h('p', { class: 'form-error', role: 'alert' }, `O cardápio do arquivo não é válido: ${fieldMessage(err.field)}`);
    }
    return h('p', { class: 'form-error', role: 'alert' }, err.message);
  }

  return form;
}

/** Names by id: of categories and of items. */
function names(menu) {
  const categories = new Map();
  const items = new Map();
  for (const c of (menu && menu.categories) || []) {
    categories.set(c.id, c.name);
    for (const i of c.items) items.set(i.id, i.name);
  }
  return { categories, items };
}

/**
 * The dry run's `diff` (ids of categories and items added, removed, changed) in words, with
 * names from the imported menu (`next`) and from the current one (`before`).
 */
function diffSummary(diff, next, before) {
  if (!diff || typeof diff !== 'object') return null;
  const after = names(next);
  const old = names(before);
  const rows = [
    ['itemsAdded', 'item(ns) novo(s)', after.items],
    ['itemsChanged', 'item(ns) alterado(s)', after.items],
    ['itemsRemoved', 'item(ns) removido(s)', old.items],
    ['categoriesAdded', 'categoria(s) nova(s)', after.categories],
    ['categoriesRemoved', 'categoria(s) removida(s)', old.categories],
  ].map(([key, label, lookup]) => {
    const ids = Array.isArray(diff[key]) ? diff[key] : [];
    const shown = ids.map((id) => lookup.get(id) || id);
    return h('li', { dataset: { diff: key } },
      h('strong', {}, String(ids.length)), ` ${label}`,
      shown.length ? `: ${shown.slice(0, 10).join(', ')}${shown.length > 10 ? ', …' : ''}` : '');
  });
  if (Number.isInteger(diff.itemsUnchanged)) {
    rows.push(h('li', { dataset: { diff: 'itemsUnchanged' } }, h('strong', {}, String(diff.itemsUnchanged)), ' item(ns) sem mudança'));
  }
  return h('ul', { class: 'diff' }, rows);
}
