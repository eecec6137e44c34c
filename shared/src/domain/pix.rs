//! The Pix BR Code "copia e cola" of an order: the EMV merchant-presented payload the
//! Banco Central's manual defines, which any bank app pastes or scans to pay the store's
//! Pix key the order's exact amount.
//!
//! Fields (ID, two-digit length, value): `00` payload format `01`; `26` merchant account
//! (`00` GUI `br.gov.bcb.pix`, `01` the key); `52` category `0000`; `53` currency `986`
//! (BRL); `54` the amount (`45.90`); `58` country `BR`; `59` merchant name (≤ 25); `60`
//! merchant city (≤ 15); `62` additional data (`05` the txid: ≤ 25 letters and digits);
//! `63` the CRC16-CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) of everything before it,
//! `6304` included, as four uppercase hex digits. Names and cities are written in plain
//! ASCII (accents dropped), as the manual recommends, so every length is a byte count.

use super::profile::Pix;

/// The txid's limit (EMV field 62-05 for a static code).
pub const TXID_MAX: usize = 25;

/// One EMV field: id, two-digit length, value (ASCII).
fn field(id: &str, value: &str) -> String {
    format!("{id}{:02}{value}", value.len())
}

/// `text` in plain ASCII: accents dropped, anything else outside printable ASCII removed,
/// cut to `max` characters.
fn ascii(text: &str, max: usize) -> String {
    let plain: String = text
        .chars()
        .filter_map(|c| {
            let base = match c {
                'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
                'Á' | 'À' | 'Â' | 'Ã' | 'Ä' => 'A',
                'é' | 'è' | 'ê' | 'ë' => 'e',
                'É' | 'È' | 'Ê' | 'Ë' => 'E',
                'í' | 'ì' | 'î' | 'ï' => 'i',
                'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
                'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
                'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ö' => 'O',
                'ú' | 'ù' | 'û' | 'ü' => 'u',
                'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
                'ç' => 'c',
                'Ç' => 'C',
                'ñ' => 'n',
                'Ñ' => 'N',
                c if c.is_ascii() && !c.is_ascii_control() => c,
                _ => return None,
            };
            Some(base)
        })
        .collect();
    plain.trim().chars().take(max).collect()
}

/// A txid from any text: its letters and digits, at most [`TXID_MAX`] (`***` if none).
pub fn txid(text: &str) -> String {
    let id: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(TXID_MAX)
        .collect();
    if id.is_empty() {
        "***".into()
    } else {
        id
    }
}

/// CRC16-CCITT-FALSE of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for byte in data {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The "copia e cola" paying `amount_cents` to `pix`'s key, identified by `txid`.
pub fn brcode(pix: &Pix, amount_cents: i64, txid: &str) -> String {
    let account = field("00", "br.gov.bcb.pix") + &field("01", &pix.key);
    let amount = format!("{}.{:02}", amount_cents / 100, amount_cents % 100);
    let mut payload = String::new();
    payload += &field("00", "01");
    payload += &field("26", &account);
    payload += &field("52", "0000");
    payload += &field("53", "986");
    payload += &field("54", &amount);
    payload += &field("58", "BR");
    payload += &field("59", &ascii(&pix.merchant_name, 25));
    payload += &field("60", &ascii(&pix.merchant_city, 15));
    payload += &field("62", &field("05", &self::txid(txid)));
    payload += "6304";
    let crc = crc16(payload.as_bytes());
    format!("{payload}{crc:04X}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::profile::PixKeyType;

    #[test]
    fn the_crc_is_ccitt_false() {
        // The standard check value of CRC-16/CCITT-FALSE.
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn a_code_has_its_fields_and_a_valid_crc() {
        let pix = Pix {
            key: "+5511987654321".into(),
            key_type: PixKeyType::Phone,
            merchant_name: "Pizzaria São João".into(),
            merchant_city: "São Paulo".into(),
        };
        let code = brcode(&pix, 12_345, "20261206-0042");
        assert!(code.starts_with("000201"));
        assert!(code.contains("0014br.gov.bcb.pix0114+5511987654321"));
        assert!(code.contains("5406123.45"));
        assert!(code.contains("5917Pizzaria Sao Joao"));
        assert!(code.contains("6009Sao Paulo"));
        assert!(code.contains("62160512202612060042"));
        let (body, crc) = code.split_at(code.len() - 4);
        assert_eq!(format!("{:04X}", crc16(body.as_bytes())), crc);
        assert!(code.is_ascii());
        assert_eq!(txid("!!"), "***");
        assert_eq!(txid(&"a".repeat(40)).len(), TXID_MAX);
    }
}
