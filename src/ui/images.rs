//! Attached images as the window shows them: a small thumbnail decoded once off the UI thread,
//! textures made on first draw and kept while the image is shown, and a larger view on click.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use egui::{ColorImage, TextureHandle, TextureOptions, vec2};

/// Longest side of a thumbnail as decoded, in pixels (drawn at half that on a 2× screen).
const THUMBNAIL_PX: u32 = 160;
/// Longest side of a thumbnail as drawn, in points.
pub const THUMBNAIL_POINTS: f32 = 80.0;
/// Longest side of the larger view's texture, in pixels.
const VIEW_PX: u32 = 1600;
/// Textures kept at most; past this the cache starts again (thumbnails are small).
const MAX_TEXTURES: usize = 256;

/// An image attached to a message.
#[derive(Clone)]
pub struct ImageVm {
    /// The file's name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// The image as sent (for the larger view).
    pub bytes: Arc<[u8]>,
    /// A small copy to draw in chips; `None` when the image could not be decoded.
    pub thumbnail: Option<Arc<ColorImage>>,
    /// Identifies the bytes (texture cache key).
    pub key: u64,
}

impl ImageVm {
    /// Decodes a thumbnail of `bytes` (call off the UI thread: decoding takes milliseconds).
    pub fn decode(name: &str, media_type: &str, bytes: Arc<[u8]>) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        let thumbnail = decode_scaled(&bytes, THUMBNAIL_PX).map(Arc::new);
        Self {
            name: name.to_string(),
            media_type: media_type.to_string(),
            bytes,
            thumbnail,
            key: hasher.finish(),
        }
    }

    /// Size of the image as sent, for chips ("240 KB").
    pub fn size_text(&self) -> String {
        size_text(self.bytes.len() as u64)
    }
}

impl std::fmt::Debug for ImageVm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageVm")
            .field("name", &self.name)
            .field("media_type", &self.media_type)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for ImageVm {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.name == other.name && self.bytes == other.bytes
    }
}

/// A size as people read it: "812 B", "14.2 KB", "3.1 MB".
pub fn size_text(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KB {
        format!("{bytes} B")
    } else if b < KB * KB {
        format!("{:.1} KB", b / KB)
    } else {
        format!("{:.1} MB", b / (KB * KB))
    }
}

/// `bytes` decoded and scaled to fit `max_px` on the long side.
fn decode_scaled(bytes: &[u8], max_px: u32) -> Option<ColorImage> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    reader.limits(image::Limits::default());
    let decoded = reader.decode().ok()?;
    let scaled = if decoded.width().max(decoded.height()) > max_px {
        decoded.thumbnail(max_px, max_px)
    } else {
        decoded
    };
    let rgba = scaled.to_rgba8();
    let size = [rgba.width() as usize, rgba.height() as usize];
    Some(ColorImage::from_rgba_unmultiplied(size, rgba.as_raw()))
}

/// Textures of the images shown, by image key.
#[derive(Default)]
pub struct ImageTextures {
    thumbnails: HashMap<u64, TextureHandle>,
    /// The larger view open now: its image and texture.
    viewing: Option<(ImageVm, Option<TextureHandle>)>,
}

impl ImageTextures {
    /// The thumbnail texture of `image`, made on first use.
    pub fn thumbnail(&mut self, ctx: &egui::Context, image: &ImageVm) -> Option<TextureHandle> {
        let thumbnail = image.thumbnail.as_ref()?;
        if self.thumbnails.len() >= MAX_TEXTURES && !self.thumbnails.contains_key(&image.key) {
            self.thumbnails.clear();
        }
        let texture = self.thumbnails.entry(image.key).or_insert_with(|| {
            ctx.load_texture(
                format!("thumbnail-{:x}", image.key),
                (**thumbnail).clone(),
                TextureOptions::LINEAR,
            )
        });
        Some(texture.clone())
    }

    /// Opens the larger view of `image`.
    pub fn open(&mut self, ctx: &egui::Context, image: &ImageVm) {
        let texture = decode_scaled(&image.bytes, VIEW_PX).map(|full| {
            ctx.load_texture(
                format!("image-{:x}", image.key),
                full,
                TextureOptions::LINEAR,
            )
        });
        self.viewing = Some((image.clone(), texture));
    }

    /// The name of the image open in the larger view (for tests).
    pub fn viewing(&self) -> Option<&str> {
        self.viewing.as_ref().map(|(image, _)| image.name.as_str())
    }

    /// Draws the larger view while one is open; Esc, Close or a click outside closes it.
    pub fn viewer_ui(&mut self, ctx: &egui::Context) {
        let Some((image, texture)) = &self.viewing else {
            return;
        };
        let screen = ctx.content_rect().size();
        let response = egui::Modal::new(egui::Id::unique("rustbot_image_view")).show(ctx, |ui| {
            ui.horizontal(|ui| {
                ui.strong(&image.name);
                ui.weak(format!("{} · {}", image.media_type, image.size_text()));
            });
            match texture {
                Some(texture) => {
                    let max = vec2(screen.x * 0.8, screen.y * 0.75);
                    ui.add(
                        egui::Image::new(texture)
                            .max_size(max)
                            .fit_to_original_size(1.0)
                            .alt_text(&image.name),
                    );
                }
                None => {
                    ui.label("This image cannot be decoded to show here; it is sent as it is.");
                }
            }
            ui.button("Close").clicked()
        });
        if response.inner || response.should_close() {
            self.viewing = None;
        }
    }
}

/// A clickable thumbnail (or the name, when the image cannot be shown); its accessible name
/// is "View image NAME".
pub fn thumbnail_button(
    ui: &mut egui::Ui,
    textures: &mut ImageTextures,
    image: &ImageVm,
) -> egui::Response {
    let label = format!("View image {}", image.name);
    let response = match textures.thumbnail(ui.ctx(), image) {
        Some(texture) => {
            let size = texture.size_vec2();
            let scale = THUMBNAIL_POINTS / size.x.max(size.y).max(1.0);
            let shown = size * scale.min(1.0);
            ui.add(egui::Button::image(
                egui::Image::new(&texture).fit_to_exact_size(shown),
            ))
        }
        None => ui.add(egui::Button::new(&image.name)),
    };
    let response = response
        .on_hover_text(format!("{} · {}", image.name, image.size_text()))
        .accessible_name(&label);
    if response.clicked() {
        textures.open(ui.ctx(), image);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbaImage::from_pixel(width, height, image::Rgba([200, 30, 40, 255]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgba8(image)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_thumbnail_fits_its_box_and_keeps_the_shape() {
        let image = ImageVm::decode("wide.png", "image/png", png(640, 320).into());
        let thumbnail = image.thumbnail.unwrap();
        assert_eq!(thumbnail.size, [160, 80]);
        assert_eq!(thumbnail.pixels[0], egui::Color32::from_rgb(200, 30, 40));
        let small = ImageVm::decode("small.png", "image/png", png(20, 10).into());
        assert_eq!(small.thumbnail.unwrap().size, [20, 10], "small ones stay");
    }

    #[test]
    fn damaged_bytes_give_no_thumbnail_and_sizes_read_well() {
        let image = ImageVm::decode(
            "bad.png",
            "image/png",
            b"\x89PNG\r\n\x1a\nnope".to_vec().into(),
        );
        assert!(image.thumbnail.is_none());
        assert_eq!(size_text(812), "812 B");
        assert_eq!(size_text(14_540), "14.2 KB");
        assert_eq!(size_text(3_250_586), "3.1 MB");
    }
}
