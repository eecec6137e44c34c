//! QR codes: for pairing, a PNG data URL for the API and the console (what WhatsApp's
//! "Link a device" camera scans) and a block-character rendering for operators' terminals;
//! for payments, the PNG bytes of a Pix "copia e cola" code, sent to the customer as an
//! image (a banking app's camera reads it).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use qrcode::{Color, EcLevel, QrCode};

const SCALE: usize = 6;
const QUIET: usize = 4;

#[derive(Debug, thiserror::Error)]
#[error("cannot render a QR code: {0}")]
pub struct QrError(String);

fn code(payload: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::L)
        .map_err(|e| QrError(e.to_string()))
}

/// The payload as a grayscale PNG, `data:image/png;base64,...`.
pub fn png_data_url(payload: &str) -> Result<String, QrError> {
    Ok(format!(
        "data:image/png;base64,{}",
        STANDARD.encode(png(payload)?)
    ))
}

/// The payload as the bytes of a grayscale PNG (6 pixels a module, a 4-module quiet zone).
pub fn png(payload: &str) -> Result<Vec<u8>, QrError> {
    let code = code(payload)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for dy in 0..SCALE {
                let row = (my * SCALE + dy) * side;
                pixels[row + mx * SCALE..row + mx * SCALE + SCALE].fill(0);
            }
        }
    }
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| QrError(e.to_string()))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| QrError(e.to_string()))?;
    }
    Ok(png)
}

/// The payload drawn with half-block characters, two module rows per text line.
pub fn terminal(payload: &str) -> Result<String, QrError> {
    let code = code(payload)?;
    let width = code.width();
    let colors = code.to_colors();
    let dark = |x: isize, y: isize| {
        x >= 0
            && y >= 0
            && (x as usize) < width
            && (y as usize) < width
            && colors[y as usize * width + x as usize] == Color::Dark
    };
    let quiet = 2isize;
    let mut out = String::new();
    let mut y = -quiet;
    while y < width as isize + quiet {
        for x in -quiet..width as isize + quiet {
            // Light-on-dark terminals: draw light modules as blocks.
            out.push(match (!dark(x, y), !dark(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
        y += 2;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG data URL back to the QR payload, as a phone camera would.
    fn decode(data_url: &str) -> String {
        let png = STANDARD
            .decode(
                data_url
                    .strip_prefix("data:image/png;base64,")
                    .expect("PNG data URL"),
            )
            .unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn the_png_decodes_back_to_the_payload() {
        for payload in [
            "http://127.0.0.1:3000/dev/simulator/st_abc/1/pair?code=xyz",
            "2@Zx9hKq1pQ0m5fJ8Z3c6Vw4aT7yBn2kLs,Hc9XvQ2m1Y0n8b7V6c5X4z3A2s1D0f9G8h7J6k5L4=,R2d2C3p0Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6=,eA1sD2fG3hJ4kL5",
        ] {
            assert_eq!(decode(&png_data_url(payload).unwrap()), payload);
        }
    }

    #[test]
    fn the_terminal_rendering_is_square_blocks() {
        let text = terminal("hello").unwrap();
        let lines: Vec<_> = text.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert!(lines.len() * 2 >= width - 1);
    }
}
