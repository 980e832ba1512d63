//! Images as they are sent: byte for byte when within `max_image_px` on the long side and
//! under 5 MB; otherwise decoded (a GIF's first frame), downscaled to fit and re-encoded.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

use super::MAX_IMAGE_BYTES;

/// The media type and bytes to send for an image of `media_type`; Err(a sentence) when the
/// image cannot be read.
pub fn prepare_image(
    bytes: Vec<u8>,
    media_type: &'static str,
    max_px: u32,
) -> Result<(&'static str, Vec<u8>), String> {
    let max_px = max_px.max(16);
    let reader = || {
        let mut r = ImageReader::new(Cursor::new(bytes.as_slice()));
        // Default limits refuse a decompression bomb (huge dimensions in a small file).
        r.limits(Limits::default());
        r.with_guessed_format()
            .map_err(|e| format!("the image cannot be read ({e})"))
    };
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| format!("the image cannot be read ({e})"))?;
    let animated_or_gif = media_type == "image/gif";
    if width.max(height) <= max_px && bytes.len() <= MAX_IMAGE_BYTES && !animated_or_gif {
        return Ok((media_type, bytes));
    }
    let decoded = reader()?
        .decode()
        .map_err(|e| format!("the image cannot be decoded ({e})"))?;
    let resized = if width.max(height) > max_px {
        decoded.resize(max_px, max_px, image::imageops::FilterType::Lanczos3)
    } else {
        decoded
    };
    let (format, out_type) = if media_type == "image/jpeg" {
        (ImageFormat::Jpeg, "image/jpeg")
    } else {
        (ImageFormat::Png, "image/png")
    };
    let mut out = Vec::new();
    let image = if format == ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(resized.to_rgb8())
    } else {
        resized
    };
    image
        .write_to(&mut Cursor::new(&mut out), format)
        .map_err(|e| format!("the image cannot be re-encoded ({e})"))?;
    Ok((out_type, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_small_image_goes_byte_for_byte() {
        let bytes = png(40, 30);
        let (media_type, out) = prepare_image(bytes.clone(), "image/png", 2048).unwrap();
        assert_eq!(media_type, "image/png");
        assert_eq!(out, bytes);
    }

    #[test]
    fn a_large_image_is_downscaled_to_fit() {
        let (media_type, out) = prepare_image(png(300, 120), "image/png", 100).unwrap();
        assert_eq!(media_type, "image/png");
        let img = image::load_from_memory(&out).unwrap();
        assert_eq!((img.width(), img.height()), (100, 40));
    }

    #[test]
    fn a_damaged_image_is_a_sentence() {
        let mut bytes = png(10, 10);
        bytes.truncate(20);
        assert!(prepare_image(bytes, "image/png", 2048).is_err());
    }
}
