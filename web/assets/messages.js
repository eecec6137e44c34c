// Every API outcome in Brazilian Portuguese. The API's `message` is English and meant for
// developers; the console never shows it. It words an outcome from the stable parts of the
// answer instead: the error `code`, the `field` it names (a path such as
// `categories[2].items[0].priceCents`), a CSV row's column, a connection test's `result`.

/** Messages by error code. */
export const MESSAGES = {
  validation_error: 'Há um campo com valor inválido. Confira e tente de novo.',
  invalid_body: 'Os dados enviados não estão no formato esperado. Nada foi alterado.',
  invalid_json: 'Os dados enviados não estão no formato esperado. Nada foi alterado.',
  invalid_path: 'Endereço inválido.',
  invalid_query: 'Parâmetros inválidos.',
  invalid_csv: 'O arquivo CSV tem erros: nada foi importado. Corrija as linhas indicadas.',
  unsupported_media_type: 'Formato de dados não aceito.',
  method_not_allowed: 'Operação não permitida.',
  nothing_to_update: 'Nada para alterar.',
  not_supported: 'Operação não disponível para este tipo de conta.',
  conflict: 'Os dados mudaram enquanto você editava. Recarregue a página e tente de novo.',
  email_not_verified: 'Seu e-mail ainda não foi verificado. Verifique-o e entre de novo.',
  anonymous_user: 'Entre com uma conta (e-mail e senha) para usar o painel.',
  unauthorized: 'Sua sessão expirou. Entre de novo.',
  invalid_token: 'Sua sessão expirou. Entre de novo.',
  token_not_yet_valid: 'O relógio deste aparelho está fora da hora certa. Acerte-o e entre de novo.',
  cloud_api_token_rejected: 'A Meta recusou este token de acesso para este número. Use um token de usuário do sistema com acesso à conta do WhatsApp Business do número.',
  cloud_api_number_mismatch: 'A Meta não reconheceu este ID de número para este token. Confira o ID do número no WhatsApp Manager.',
  graph_api_unavailable: 'Não foi possível falar com a Meta agora. Nada foi alterado; tente de novo.',
  url_not_allowed: 'Este endereço não é permitido: use um endereço https público (nada de IPs, localhost ou redes internas).',
  api_key_required: 'Ao trocar o endereço, informe o token de novo: o token salvo nunca é enviado a outro endereço.',
  host_not_allowed: 'Acesso recusado: abra o painel pelo endereço em que a pilha local foi iniciada.',
  pairing_code_required: 'Falta o código de pareamento deste QR.',
  wrong_code: 'Código de pareamento incorreto ou já usado.',
  saipos_rejected_token: 'A Saipos recusou o token: confira o token da API de dados da loja.',
  saipos_unavailable: 'A Saipos está indisponível agora. Tente de novo em alguns minutos.',
  report_too_large: 'Período grande demais para um relatório: escolha um período menor.',
  forbidden: 'Você não tem acesso a este recurso.',
  not_found: 'Não encontrado: talvez tenha sido removido.',
  payload_too_large: 'Os dados enviados são grandes demais.',
  unavailable: 'Serviço indisponível no momento. Nada foi alterado; tente de novo.',
  internal: 'Erro interno. Nada foi alterado; tente de novo em instantes.',
  network: 'Sem conexão com o servidor. Tente de novo.',
  outside_window: 'Não é possível enviar: o cliente escreveu pela última vez há mais de 24 horas. Pela API oficial do WhatsApp só modelos aprovados podem ser enviados até o cliente escrever de novo.',
  line_detached: 'O número desta conversa não está mais ligado a esta conexão: não é possível enviar por ele.',
  whatsapp_unavailable: 'O WhatsApp não aceitou a mensagem agora. Tente de novo em instantes.',
  whatsapp_refused: 'O WhatsApp recusou a mensagem (número, permissão ou política). Confira o número na Meta.',
};

/** When the code is unknown: by HTTP status. */
const BY_STATUS = {
  400: 'Os dados enviados não foram aceitos. Confira os campos e tente de novo.',
  401: 'Sua sessão expirou. Entre de novo.',
  403: MESSAGES.forbidden,
  404: MESSAGES.not_found,
  409: MESSAGES.conflict,
  413: MESSAGES.payload_too_large,
  415: MESSAGES.unsupported_media_type,
  429: 'Muitas tentativas seguidas. Espere um pouco e tente de novo.',
  502: 'Um serviço externo não respondeu como esperado. Tente de novo.',
  503: MESSAGES.unavailable,
};

const PRICE = 'Preço inválido: use um valor de R$ 0,00 a R$ 100.000,00, como 45,90.';
const TIME = 'Horário inválido: use HH:MM, de 00:00 a 23:59.';

/**
 * Messages by field. Keys are field paths with list indexes as `[]` and a weekday as `{day}`
 * (`categories[].items[].priceCents`, `hours.weekly.{day}[].open`); a plain name also
 * answers for any path ending in it.
 */
export const FIELD_MESSAGES = {
  // Sign-in (local stack).
  userId: 'Use de 1 a 64 caracteres: letras sem acento, números e . _ - @ (sem espaços).',
  // /dashboard: APIs and the sales report.
  name: 'Informe um nome de 1 a 80 caracteres.',
  type: 'Escolha WhatsApp ou Saipos.',
  apiKey: 'Informe o token da Saipos, sem espaços.',
  baseUrl: 'Endereço inválido: use um endereço https público da Saipos.',
  from: 'Data inicial inválida: use uma data anterior ou igual à final.',
  to: 'Data final inválida: no máximo 366 dias depois da inicial e nunca no futuro.',
  phoneNumber: 'Informe o número com DDI e DDD, de 10 a 15 dígitos (ex.: 5511988887777).',
  // /whatsapp-tools: the attendant.
  botName: 'O nome do atendente pode ter até 60 caracteres.',
  storeType: 'O tipo de loja pode ter até 40 caracteres.',
  basePrompt: 'O prompt base pode ter até 8000 caracteres.',
  forbidden: 'Os assuntos proibidos podem ter até 4000 caracteres.',
  contextTime: 'Informe um número inteiro de 1 a 1440 minutos.',
  messageLimit: 'Informe um número inteiro de 1 a 200 mensagens.',
  debounceSeconds: 'Informe um número inteiro de 0 a 30 segundos.',
  takeoverMinutes: 'Informe um número inteiro de 1 a 1440 minutos, ou deixe em branco.',
  timezone: 'Fuso horário desconhecido: use um nome como America/Sao_Paulo.',
  botEnabled: 'Valor inválido: ligue ou desligue o atendente.',
  historyDays: 'Informe um número inteiro de 1 a 365 dias.',
  // /conversas: the inbox.
  text: 'Escreva uma mensagem de 1 a 4096 caracteres.',
  minutes: 'Informe de 1 a 10080 minutos de pausa.',
  chatId: 'Conversa inválida: abra-a pela lista.',
  q: 'A busca pode ter até 100 caracteres.',
  limit: 'Parâmetros inválidos.',
  cursor: 'A lista mudou: recarregue a página.',
  before: 'A conversa mudou: recarregue a página.',
  since: 'A página ficou desatualizada: recarregue.',
  // /cardapio: the menu.
  categories: 'Categorias demais: o cardápio aceita até 50 categorias.',
  'categories[].id': 'Identificador de categoria inválido ou repetido.',
  'categories[].name': 'Informe o nome da categoria (de 1 a 80 caracteres).',
  'categories[].items': 'Itens demais: o cardápio aceita até 500 itens.',
  'categories[].items[]': 'Itens demais: o cardápio aceita até 500 itens.',
  'categories[].items[].id': 'Identificador de item inválido ou repetido no cardápio.',
  'categories[].items[].name': 'Informe o nome do item (de 1 a 80 caracteres).',
  'categories[].items[].description': 'A descrição pode ter até 500 caracteres.',
  'categories[].items[].saiposCode': 'O código Saipos tem de 1 a 60 caracteres, em uma linha.',
  'categories[].items[].priceCents': PRICE,
  'categories[].items[].available': 'Valor inválido: marque se o item está disponível.',
  'categories[].items[].optionGroups': 'Grupos demais: até 10 grupos de opções por item.',
  'categories[].items[].optionGroups[].id': 'Identificador de grupo inválido ou repetido.',
  'categories[].items[].optionGroups[].name': 'Informe o nome do grupo (de 1 a 80 caracteres).',
  'categories[].items[].optionGroups[].min': 'O mínimo deve ser de 0 até o máximo.',
  'categories[].items[].optionGroups[].max': 'O máximo deve ficar entre o mínimo e o número de opções do grupo.',
  'categories[].items[].optionGroups[].options': 'Opções demais: até 30 por grupo.',
  'categories[].items[].optionGroups[].options[].id': 'Identificador de opção inválido ou repetido no grupo.',
  'categories[].items[].optionGroups[].options[].name': 'Informe o nome da opção (de 1 a 80 caracteres).',
  'categories[].items[].optionGroups[].options[].priceCents': PRICE,
  priceCents: PRICE,
  available: 'Valor inválido: marque se o item está disponível.',
  // /loja: the store's profile.
  address: 'O endereço pode ter até 300 caracteres.',
  closedMessage: 'A mensagem pode ter até 500 caracteres.',
  hours: 'Horários inválidos.',
  'hours.weekly': 'Horários da semana inválidos.',
  'hours.weekly.{day}': 'No máximo 6 turnos por dia.',
  'hours.weekly.{day}[].open': TIME,
  'hours.weekly.{day}[].close': TIME,
  'hours.exceptions': 'No máximo 100 datas de exceção.',
  'hours.exceptions[].date': 'Data inválida ou repetida: cada data aparece uma vez só.',
  'hours.exceptions[].intervals': 'No máximo 6 turnos por data.',
  'hours.exceptions[].intervals[].open': TIME,
  'hours.exceptions[].intervals[].close': TIME,
  'delivery.zones': 'No máximo 50 zonas de entrega.',
  'delivery.zones[].name': 'Informe o nome da zona (de 1 a 80 caracteres).',
  'delivery.zones[].neighborhoods': 'Informe ao menos um bairro.',
  'delivery.zones[].neighborhoods[]': 'Bairro repetido (cada bairro pertence a uma só zona), vazio, com mais de 80 caracteres, ou bairros demais (até 500 no total).',
  'delivery.zones[].feeCents': 'Taxa inválida: use um valor como 7,50 (de R$ 0,00 a R$ 100.000,00).',
  'delivery.zones[].minOrderCents': 'Pedido mínimo inválido: use um valor como 30,00 (de R$ 0,00 a R$ 100.000,00).',
  'delivery.zones[].etaMinutes': 'Tempo de entrega inválido: de 1 a 1440 minutos (ex.: 45).',
  'payments.pix': 'Dados do Pix incompletos.',
  'payments.pix.keyType': 'Escolha o tipo da chave Pix.',
  'payments.pix.key': 'Chave Pix inválida para o tipo escolhido: CPF (11 dígitos) ou CNPJ (14 dígitos) com dígitos verificadores válidos, e-mail, celular como +5511987654321 ou chave aleatória.',
  'payments.pix.merchantName': 'Informe o nome do recebedor (até 25 caracteres).',
  'payments.pix.merchantCity': 'Informe a cidade do recebedor (até 15 caracteres).',
  'alerts.emails': 'No máximo 5 e-mails para alertas.',
  'alerts.emails[]': 'E-mail inválido: use um endereço como dono@minhaloja.com.br.',
  'alerts.phones': 'No máximo 5 celulares para alertas.',
  'alerts.phones[]': 'Celular inválido: use +55, o DDD e o número com 9 dígitos, como +5511987654321.',
  aiBudgetMicros: 'Orçamento inválido: use um valor em dólares como 20 ou 12,50.',
};

const DAYS = /\.(mon|tue|wed|thu|fri|sat|sun)(?=\[|$|\.)/;

/** A field path as a key of FIELD_MESSAGES: indexes become `[]`, a weekday `{day}`. */
export function fieldPattern(path) {
  return String(path).replace(/\[\d+\]/g, '[]').replace(DAYS, '.{day}');
}

/** The pt-BR message for a validation error on `path`. */
export function fieldMessage(path) {
  if (!path) return MESSAGES.validation_error;
  const pattern = fieldPattern(path);
  if (FIELD_MESSAGES[pattern]) return FIELD_MESSAGES[pattern];
  const leaf = pattern.split(/[.\]]/).filter(Boolean).pop().replace(/\[$/, '');
  return FIELD_MESSAGES[leaf] || 'Valor inválido neste campo.';
}

/** The pt-BR message of an API error `{code, message, field}` answered with `status`. */
export function errorMessage(status, error = {}) {
  if (error.code === 'validation_error' && error.field) return fieldMessage(error.field);
  return MESSAGES[error.code] || BY_STATUS[status] || (status >= 500
    ? MESSAGES.internal
    : 'Não foi possível concluir a operação. Tente de novo.');
}

/** The CSV import's columns (`field` of a row error), as the owner sees them. */
export const CSV_COLUMNS = {
  category: 'categoria',
  item: 'item',
  description: 'descrição',
  price: 'preço',
  available: 'disponível',
  options: 'opções',
};

const CSV_FIELD_MESSAGES = {
  category: 'informe a categoria (de 1 a 80 caracteres); até 50 categorias.',
  item: 'informe o nome do item (de 1 a 80 caracteres), sem repetir o mesmo item.',
  description: 'a descrição pode ter até 500 caracteres.',
  price: 'preço inválido: use 45,90 ou 45.90 (de 0 a 100.000,00).',
  available: 'use sim ou não (também aceita s/n, true/false e 1/0).',
  options: 'opções em formato inválido: use “Tamanho[1]: Média=0; Grande=10,00 | Adicionais[0-3]: Bacon=4,00” (até 10 grupos, 30 opções cada, mínimo ≤ máximo ≤ número de opções).',
  id: 'identificador inválido ou repetido: de 1 a 40 letras minúsculas, números e hífen.',
};

/**
 * One row of an `invalid_csv` error `{row, field, message}` in pt-BR: `field` names the
 * column; row 1 is the header; an empty field is about the file's shape.
 */
export function csvRowMessage({ row, field }) {
  const known = Object.hasOwn(CSV_FIELD_MESSAGES, field);
  const column = CSV_COLUMNS[field] || field;
  if (row === 1 && field) {
    return known
      ? `Linha 1 (cabeçalho): a coluna “${column}” falta ou aparece duas vezes. As colunas obrigatórias são categoria, item e preço.`
      : `Linha 1 (cabeçalho): a coluna “${field}” não é conhecida. Use ${Object.values(CSV_COLUMNS).join(', ')} (ou id).`;
  }
  const where = row ? `Linha ${row}` : 'Arquivo';
  if (!field) {
    return `${where}: o arquivo não pôde ser lido aqui (aspas sem fechar, mais células que o cabeçalho, nenhum item abaixo do cabeçalho ou mais de 500 itens).`;
  }
  if (!known) return `${where}, coluna “${field}”: valor inválido.`;
  return `${where}, coluna “${column}”: ${CSV_FIELD_MESSAGES[field]}`;
}

/**
 * The result of "Testar conexão" (`POST /api/user-apis/{id}/test`) from its `result`,
 * `connected` and `total`.
 */
export function testResultMessage(outcome) {
  const n = Number(outcome.connected) || 0;
  const total = Number(outcome.total) || 3;
  switch (outcome.result) {
    case 'whatsapp_connected':
      return n === 1
        ? `1 de ${total} números de WhatsApp está conectado.`
        : `${n} de ${total} números de WhatsApp estão conectados.`;
    case 'whatsapp_not_linked':
      return 'Nenhum número de WhatsApp conectado ainda: em Conexões, toque em “Conectar” e leia o QR code.';
    case 'saipos_token_accepted':
      return 'A Saipos aceitou o token.';
    case 'saipos_unreachable':
      return 'Não foi possível falar com a Saipos. Tente de novo.';
    case 'saipos_unexpected':
      return 'A Saipos respondeu de um jeito inesperado. Tente de novo mais tarde.';
    default:
      if (MESSAGES[outcome.result]) return MESSAGES[outcome.result];
      return outcome.success ? 'Conexão testada: tudo certo.' : 'O teste da conexão falhou.';
  }
}
