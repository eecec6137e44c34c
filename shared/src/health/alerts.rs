//! The alerts' words (plain pt-BR, the store's name in place of `{loja}`) and their
//! delivery: one e-mail to the profile's `alerts.emails` through Resend, and a WhatsApp
//! message to each of `alerts.phones` from another connected number of the store. The
//! alert is a job on the inbound queue, handled by the bot worker; a failed delivery sends
//! the job back (retried, then dead-lettered), and a retry sends nothing twice: the e-mail
//! carries the alert's id as its idempotency key.

use super::incidents::{masked_phone, AlertJob};
use super::resend::{Resend, SendError};
use crate::knowledge;
use crate::store::keys::{api_sk, user_pk};
use crate::store::{attr_str, Store, StoreError};

/// The words of the alerts, `(subject, text)`.
pub mod text {
    use super::masked_phone;

    fn number(slot: u8, phone: Option<&str>) -> String {
        match phone {
            Some(phone) => format!("O número {slot} ({})", masked_phone(phone)),
            None => format!("O número {slot}"),
        }
    }

    pub fn slot_down(slot: u8, phone: Option<&str>, why: &str) -> (String, String) {
        (
            format!("{{loja}}: o número {slot} desconectou"),
            format!(
                "{} da {{loja}} desconectou: {why}. Abra Conexões para reconectar.",
                number(slot, phone)
            ),
        )
    }

    pub fn slot_back(slot: u8, phone: Option<&str>) -> (String, String) {
        (
            format!("{{loja}}: o número {slot} voltou"),
            format!(
                "{} da {{loja}} voltou a funcionar e já está atendendo.",
                number(slot, phone)
            ),
        )
    }

    pub fn attendant_failing(minutes: u64, why: &str) -> (String, String) {
        (
            "{loja}: o atendente automático não está respondendo".into(),
            format!(
                "O atendente automático da {{loja}} não consegue responder há {minutes} minutos \
                 ({why}). As mensagens dos clientes ficam guardadas e serão respondidas quando \
                 ele voltar; se preferir, responda pelo celular."
            ),
        )
    }

    pub fn attendant_back() -> (String, String) {
        (
            "{loja}: o atendente automático voltou".into(),
            "O atendente automático da {loja} voltou a responder os clientes.".into(),
        )
    }

    /// Dollars with two decimals from micro-dollars.
    pub fn dollars(micros: i64) -> String {
        format!("US$ {:.2}", micros as f64 / 1_000_000.0)
    }

    pub fn budget(percent: u8, used: i64, budget: i64, fallback: bool) -> (String, String) {
        let what = if percent >= 100 {
            if fallback {
                "O atendente passou a usar o modelo econômico até o mês virar ou o orçamento \
                 aumentar."
            } else {
                "O atendente passou a responder só com o aviso de atendimento automático \
                 indisponível até o mês virar ou o orçamento aumentar."
            }
        } else {
            "Ao chegar a 100%, o atendente passa a usar o modelo econômico (ou o aviso de \
             indisponível)."
        };
        (
            format!("{{loja}}: {percent}% do orçamento mensal de IA"),
            format!(
                "A {{loja}} usou {percent}% do orçamento mensal de IA ({} de {}). {what}",
                dollars(used),
                dollars(budget)
            ),
        )
    }

    pub fn dead_letters() -> (String, String) {
        (
            "{loja}: mensagens sem resposta".into(),
            "Mensagens de clientes da {loja} não puderam ser respondidas pelo atendente \
             automático depois de várias tentativas e foram deixadas de lado. Confira as \
             conversas no celular."
                .into(),
        )
    }

    pub fn dead_letters_cleared() -> (String, String) {
        (
            "{loja}: as respostas voltaram".into(),
            "O atendente automático da {loja} voltou a responder. Confira no celular as \
             conversas que ficaram sem resposta."
                .into(),
        )
    }
}

/// The store's name as its owner named the WhatsApp connection (else its id).
pub async fn store_name(
    store: &dyn Store,
    store_id: &str,
    config: Option<&crate::store::Item>,
) -> Result<String, StoreError> {
    let (Some(owner), Some(api)) = (
        config.and_then(|c| attr_str(c, "ownerId")),
        config.and_then(|c| attr_str(c, "apiId")),
    ) else {
        return Ok(store_id.to_owned());
    };
    let item = store.get(&user_pk(owner), &api_sk(api)).await?;
    Ok(item
        .as_ref()
        .and_then(|i| attr_str(i, "name"))
        .unwrap_or(store_id)
        .to_owned())
}

/// Why an alert was not (fully) delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Email(#[from] SendError),
}

/// An alert ready to send: its words with the store's name, and where to.
#[derive(Debug, Clone, PartialEq)]
pub struct Addressed {
    pub subject: String,
    pub text: String,
    pub emails: Vec<String>,
    /// Digits only (`5511999990000`).
    pub phones: Vec<String>,
}

/// Reads where the store's alerts go and words `job` for it: one query (config and
/// profile) and one read (the store's name).
pub async fn address(store: &dyn Store, job: &AlertJob) -> Result<Addressed, StoreError> {
    let snapshot = knowledge::snapshot(store, &job.store_id).await?;
    let name = store_name(store, &job.store_id, snapshot.config.as_ref()).await?;
    let alerts = &snapshot.knowledge.profile.alerts;
    Ok(Addressed {
        subject: job.subject.replace("{loja}", &name),
        text: job.text.replace("{loja}", &name),
        emails: alerts.emails.clone(),
        phones: alerts
            .phones
            .iter()
            .map(|p| p.trim_start_matches('+').to_owned())
            .collect(),
    })
}

/// Sends the e-mail of an addressed alert, if there are addresses and an e-mail service.
pub async fn email(
    resend: Option<&Resend>,
    job: &AlertJob,
    addressed: &Addressed,
) -> Result<(), DeliveryError> {
    let Some(resend) = resend else {
        if !addressed.emails.is_empty() {
            tracing::warn!(store = %job.store_id, "an alert has e-mail addresses but RESEND_API_KEY is not set");
        }
        return Ok(());
    };
    if addressed.emails.is_empty() {
        return Ok(());
    }
    resend
        .send(
            &job.alert_id,
            &addressed.emails,
            &addressed.subject,
            &addressed.text,
        )
        .await?;
    Ok(())
}
