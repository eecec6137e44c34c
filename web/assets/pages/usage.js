// The usage and health of one WhatsApp connection (store) on the dashboard: its open
// incidents (a number down, the attendant failing, the AI budget) and its last 14 days
// as a bar chart (customer messages and replies per day, inline SVG, no library), with
// the period's totals and the month's AI spend against its budget.

import { api, enc } from '../api.js';
import { h } from '../ui.js';

const SVG = 'http://www.w3.org/2000/svg';
const DAYS = 14;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

/** Micro-dollars as "US$ 1,23" (pt-BR decimals). */
export function dollars(micros) {
  return `US$ ${(micros / 1e6).toFixed(2).replace('.', ',')}`;
}

/** `YYYY-MM-DD` as `dd/mm`. */
export function dayLabel(date) {
  const [, m, d] = date.split('-');
  return `${d}/${m}`;
}

/**
 * The bars of a usage chart: per day, customer messages and replies, scaled to `height`
 * (pure; the chart draws them). Returns `[{date, x, width, messages: {y, h}, replies: {y, h}}]`.
 */
export function bars(days, width, height) {
  const max = Math.max(1, ...days.map((d) => Math.max(d.customerMessages, d.replies)));
  const slot = width / Math.max(days.length, 1);
  const bar = Math.max(2, slot / 2 - 2);
  return days.map((d, i) => {
    const mh = (d.customerMessages / max) * height;
    const rh = (d.replies / max) * height;
    return {
      date: d.date,
      x: i * slot + 1,
      width: bar,
      messages: { y: height - mh, h: mh },
      replies: { y: height - rh, h: rh },
    };
  });
}

/** The chart: an SVG with two bars a day and each day's numbers as a tooltip. */
export function usageChart(days) {
  const width = 560;
  const height = 120;
  const chart = svg('svg', {
    class: 'usage-chart', viewBox: `0 0 ${width} ${height + 18}`, role: 'img',
    'aria-label': `Mensagens de clientes e respostas por dia, últimos ${days.length} dias`,
  });
  for (const b of bars(days, width, height)) {
    const day = days.find((d) => d.date === b.date);
    const title = `${dayLabel(b.date)}: ${day.customerMessages} mensagens de clientes, ${day.replies} respostas`;
    chart.append(
      svg('rect', { class: 'bar-messages', x: b.x, y: b.messages.y, width: b.width, height: b.messages.h, 'data-date': b.date },
        svg('title', {}, title)),
      svg('rect', { class: 'bar-replies', x: b.x + b.width + 1, y: b.replies.y, width: b.width, height: b.replies.h },
        svg('title', {}, title)),
    );
  }
  const first = days[0];
  const last = days[days.length - 1];
  if (first && last) {
    chart.append(
      svg('text', { x: 0, y: height + 14, class: 'axis' }, dayLabel(first.date)),
      svg('text', { x: width, y: height + 14, 'text-anchor': 'end', class: 'axis' }, dayLabel(last.date)),
    );
  }
  return chart;
}

const INCIDENT_LABEL = {
  attendant: 'Atendente automático sem responder',
};

/** An open incident in the owner's words. */
export function incidentText(incident) {
  const slot = /^slot(\d)$/.exec(incident.id);
  const budget = /^budget(\d+)-/.exec(incident.id);
  let what = INCIDENT_LABEL[incident.id];
  if (slot) what = `Número ${slot[1]} desconectado`;
  if (budget) what = `${budget[1]}% do orçamento mensal de IA`;
  return `${what || 'Problema'}: ${incident.detail}`;
}

/** The panel of one store: incidents, chart and totals. */
export function usagePanel(storeId) {
  const panel = h('section', { class: 'usage-panel', 'aria-label': 'Uso e alertas', 'aria-busy': 'true' },
    h('p', {}, 'Carregando uso…'));
  (async () => {
    try {
      const [usage, incidents] = await Promise.all([
        api('GET', `/api/client/${enc(storeId)}/usage`),
        api('GET', `/api/client/${enc(storeId)}/incidents`),
      ]);
      const days = usage.days.slice(-DAYS);
      const t = usage.totals;
      const budget = usage.budget || {};
      panel.replaceChildren(
        h('h3', {}, 'Alertas'),
        incidents.data.length
          ? h('ul', { class: 'incidents' }, incidents.data.map((i) => h('li', { class: 'incident' }, incidentText(i))))
          : h('p', { class: 'no-incidents' }, 'Nenhum problema aberto.'),
        h('h3', {}, `Uso nos últimos ${days.length} dias`),
        usageChart(days),
        h('p', { class: 'hint legend' },
          h('span', { class: 'key key-messages' }), ' mensagens de clientes ',
          h('span', { class: 'key key-replies' }), ' respostas'),
        h('dl', { class: 'totals usage-totals' },
          h('div', {}, h('dt', {}, 'Mensagens (30 dias)'), h('dd', {}, t.customerMessages)),
          h('div', {}, h('dt', {}, 'Respostas'), h('dd', {}, t.replies)),
          h('div', {}, h('dt', {}, 'Pedidos'), h('dd', {}, t.orders)),
          h('div', {}, h('dt', {}, 'Minutos de áudio'), h('dd', {}, Math.round(t.voiceSeconds / 60))),
          h('div', {}, h('dt', {}, 'Tokens do modelo'), h('dd', {}, t.promptTokens + t.completionTokens)),
          h('div', {}, h('dt', {}, 'Custo de IA no mês'), h('dd', {},
            budget.monthlyMicros !== undefined
              ? `${dollars(budget.usedMicros)} de ${dollars(budget.monthlyMicros)}`
              : dollars(budget.usedMicros || 0)))),
      );
    } catch (err) {
      panel.replaceChildren(h('p', { class: 'form-error' }, err.message));
    } finally {
      panel.setAttribute('aria-busy', 'false');
    }
  })();
  return panel;
}
