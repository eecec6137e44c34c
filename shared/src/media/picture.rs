//! A customer's picture made fit for a vision model: at most [`MAX_SIDE`] pixels on its
//! longest side, as a JPEG, so the data URL the model gets (and is billed for) stays small
//! whatever the phone sent.
//!
//! Decoding is where a picture can hurt: a few kilobytes of PNG may declare 100,000 ×
//! 100,000 pixels (a "decompression bomb") and ask for 40 GB. So the header is read first
//! and a picture over [`MAX_PIXELS`] is refused before any pixel is decoded; the decoder
//! then runs under the same limits (sides and bytes), in case a header lies. Only the
//! decoders customers' pictures need are built in (JPEG, PNG, WebP); anything else, or a
//! corrupt file, is [`PictureError::Unreadable`] and the turn goes on as if the model
//! couldn't see (the caption, or a short reply). A JPEG already small enough is sent as it
//! came, not re-encoded.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

/// The most pixels decoded. WhatsApp sends photos at most 4096 px a side (16.7 MP, its HD
/// mode); the bound leaves room for that and keeps a decoded picture (3–4 bytes a pixel)
/// well inside the bot Lambda's 256 MB.
pub const MAX_PIXELS: u64 = 24_000_000;
/// The most bytes the decoder may allocate for the pixels (RGBA at [`MAX_PIXELS`]; a
/// 16-bit picture that large is refused by it).
pub const MAX_DECODED_BYTES: u64 = MAX_PIXELS * 4;
/// The longest side the model gets: enough to read a receipt or see a dish.
pub const MAX_SIDE: u32 = 1024;
/// The JPEG quality of a downscaled picture.
pub const JPEG_QUALITY: u8 = 80;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PictureError {
    /// Too many pixels to decode here, as its header declares: refused before decoding
    /// (by our bound, or by the decoder's limits while it read the header).
    #[error("the picture is too large to open: {0}")]
    TooLarge(String),
    /// Not a picture we can read (another format, corrupt, truncated).
    #[error("the picture can't be read: {0}")]
    Unreadable(String),
}

/// A decoder's refusal: over the limits is [`PictureError::TooLarge`], anything else
/// [`PictureError::Unreadable`].
fn refused(err: ImageError) -> PictureError {
    match err {
        ImageError::Limits(limits) => PictureError::TooLarge(limits.to_string()),
        other => PictureError::Unreadable(other.to_string()),
    }
}

/// A picture ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub mimetype: &'static str,
    pub bytes: Vec<u8>,
    /// Its size as sent (after any downscale).
    pub width: u32,
    pub height: u32,
}

impl Prepared {
    /// The `data:` URL of an `image_url` content part.
    pub fn data_url(&self) -> String {
        use base64::Engine;
        format!(
            "data:{};base64,{}",
            self.mimetype,
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }
}

fn unreadable(err: impl std::fmt::Display) -> PictureError {
    PictureError::Unreadable(err.to_string())
}

/// The limits every decode runs under.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(u32::try_from(MAX_PIXELS).unwrap_or(u32::MAX));
    limits.max_image_height = Some(u32::try_from(MAX_PIXELS).unwrap_or(u32::MAX));
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    limits
}

fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, PictureError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(unreadable)?;
    reader.limits(limits());
    Ok(reader)
}

/// The width and height `bytes` declare, from the header alone.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), PictureError> {
    reader(bytes)?.into_dimensions().map_err(refused)
}

/// `bytes` made fit for a vision model: refused over [`MAX_PIXELS`] before decoding; a
/// JPEG within [`MAX_SIDE`] as it is; anything else decoded (turned upright as its EXIF
/// says), shrunk to [`MAX_SIDE`] on its longest side keeping its proportions, and encoded
/// as JPEG. CPU-bound (a quarter of a second or so for a 12 MP photo on a busy 2-core
/// machine, most of it the decode): call it off the async threads.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, PictureError> {
    let (width, height) = dimensions(bytes)?;
    let too_large = || PictureError::TooLarge(format!("{width}x{height} pixels"));
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(too_large());
    }
    let reader = reader(bytes)?;
    let format = reader.format();
    if format == Some(ImageFormat::Jpeg) && width.max(height) <= MAX_SIDE {
        return Ok(Prepared {
            mimetype: "image/jpeg",
            bytes: bytes.to_vec(),
            width,
            height,
        });
    }
    let mut decoder = reader.into_decoder().map_err(refused)?;
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        return Err(too_large());
    }
    let orientation = decoder.orientation().map_err(refused)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(refused)?;
    image.apply_orientation(orientation);
    let image = if image.width().max(image.height()) > MAX_SIDE {
        // Each source pixel counts once (an area average): fast, and sharp enough for a
        // model's look at a downscale of 3× or more.
        image.thumbnail(MAX_SIDE, MAX_SIDE)
    } else {
        image
    };
    // JPEG has no transparency: what was see-through shows as black, as most viewers do.
    let rgb = image.to_rgb8();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(unreadable)?;
    Ok(Prepared {
        mimetype: "image/jpeg",
        bytes: out,
        width: rgb.width(),
        height: rgb.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, RgbImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// A PNG whose header declares `width` × `height` and which holds no pixels.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().unwrap();
        // The first data chunk, an empty zlib stream: where a decoder stops reading the header.
        writer
            .write_chunk(
                png::chunk::IDAT,
                &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
            )
            .unwrap();
        drop(writer);
        out
    }

    #[test]
    fn a_large_picture_is_shrunk_to_a_jpeg_keeping_its_proportions() {
        let prepared = prepare(&png(1500, 1000)).unwrap();
        assert_eq!(prepared.mimetype, "image/jpeg");
        assert_eq!((prepared.width, prepared.height), (1024, 683));
        let back = image::load_from_memory(&prepared.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (1024, 683));
    }

    #[test]
    fn a_small_jpeg_goes_as_it_came_a_small_png_becomes_a_jpeg() {
        let small = prepare(&png(300, 200)).unwrap();
        assert_eq!((small.width, small.height), (300, 200));
        let again = prepare(&small.bytes).unwrap();
        assert_eq!(again.bytes, small.bytes, "not re-encoded");
    }

    #[test]
    fn a_bomb_is_refused_from_its_header() {
        let bomb = png_header(100_000, 100_000);
        assert!(bomb.len() < 100, "{} bytes", bomb.len());
        assert!(
            matches!(prepare(&bomb), Err(PictureError::TooLarge(_))),
            "{:?}",
            prepare(&bomb)
        );
        // Just over our bound (within the decoder's): refused by the header's numbers.
        let over = png_header(6000, 4001);
        assert_eq!(dimensions(&over), Ok((6000, 4001)));
        assert_eq!(
            prepare(&over),
            Err(PictureError::TooLarge("6000x4001 pixels".into()))
        );
    }

    #[test]
    fn corrupt_and_unknown_files_are_unreadable() {
        let mut cut = png(400, 300);
        cut.truncate(cut.len() / 2);
        assert!(matches!(prepare(&cut), Err(PictureError::Unreadable(_))));
        assert!(matches!(
            prepare(b"GIF89a not a picture we read"),
            Err(PictureError::Unreadable(_))
        ));
        assert!(matches!(prepare(&[]), Err(PictureError::Unreadable(_))));
    }
}
