// Money as the owner types and reads it, "45,90", and as the API keeps it, integer centavos.

/** Centavos as Brazilian reais without the symbol: 4590 → "45,90", 123456 → "1.234,56". */
export function formatCents(cents) {
  if (cents === null || cents === undefined || Number.isNaN(Number(cents))) return '';
  return (Number(cents) / 100).toLocaleString('pt-BR', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/** Centavos with the symbol: 4590 → "R$ 45,90". */
export function reais(cents) {
  return `R$ ${formatCents(cents || 0)}`;
}

/**
 * What the owner typed as centavos: "45,90", "45.90", "45", "R$ 1.234,56", "1234.5" →
 * 4590, 4590, 4500, 123456, 123450. Empty → null; anything else → NaN.
 */
export function parseReais(text) {
  let value = String(text ?? '').trim().replace(/^R\$/i, '').trim();
  if (value === '') return null;
  if (value.includes(',')) {
    // Brazilian: dots group thousands, the comma starts the centavos.
    if (!/^\d{1,3}(\.\d{3})*,\d{0,2}$|^\d+,\d{0,2}$/.test(value)) return NaN;
    value = value.replace(/\./g, '').replace(',', '.');
  } else if (/^\d+\.\d{1,2}$/.test(value)) {
    // "45.90": a dot before one or two digits is the decimal point.
  } else if (/^\d{1,3}(\.\d{3})+$/.test(value)) {
    value = value.replace(/\./g, '');
  } else if (!/^\d+$/.test(value)) {
    return NaN;
  }
  const cents = Math.round(Number(value) * 100);
  return Number.isSafeInteger(cents) ? cents : NaN;
}
