//! Two icons egui_commonmark puts on code blocks (🗐 copy, ✔ copied) that neither egui's
//! bundled fonts nor most systems' fonts have: drawn here instead of showing empty boxes.

use egui::{Color32, ColorImage, GlyphBitmap, GlyphRasterizer, RasterizedGlyph};

/// The fallback rasterizer for the code-block icons; add it with
/// `Context::add_glyph_rasterizer` (idempotent).
pub fn icon_rasterizer() -> GlyphRasterizer {
    GlyphRasterizer::new("rustbot::ui::glyphs", |req| match req.cluster {
        "🗐" => Some(draw(req.font_size_px, copy_icon)),
        "✔" => Some(draw(req.font_size_px, check_icon)),
        _ => None,
    })
}

/// Rasterizes `inside(x, y)` (both in 0..1, y down) into a square standing on the baseline.
fn draw(font_size_px: f32, inside: fn(f32, f32, f32) -> bool) -> RasterizedGlyph {
    let size = (0.75 * font_size_px).round().max(4.0) as usize;
    let stroke = (1.2 / size as f32).max(0.08);
    let bearing = (0.1 * font_size_px).round();
    let mut image = ColorImage::filled([size, size], Color32::TRANSPARENT);
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (
                (x as f32 + 0.5) / size as f32,
                (y as f32 + 0.5) / size as f32,
            );
            if inside(fx, fy, stroke) {
                image[(x, y)] = Color32::WHITE;
            }
        }
    }
    RasterizedGlyph {
        bitmap: GlyphBitmap {
            image,
            offset_px: egui::vec2(bearing, -(size as f32)),
            is_color: false,
        },
        advance_px: size as f32 + 2.0 * bearing,
    }
}

/// Outline of a rectangle from (x0, y0) to (x1, y1).
fn outline(x: f32, y: f32, (x0, y0, x1, y1): (f32, f32, f32, f32), s: f32) -> bool {
    let inside = x >= x0 && x <= x1 && y >= y0 && y <= y1;
    let interior = x > x0 + s && x < x1 - s && y > y0 + s && y < y1 - s;
    inside && !interior
}

/// Two overlapping pages.
fn copy_icon(x: f32, y: f32, s: f32) -> bool {
    let back = (0.05, 0.05, 0.65, 0.7);
    let front = (0.35, 0.3, 0.95, 0.95);
    let in_front = x >= front.0 && x <= front.2 && y >= front.1 && y <= front.3;
    outline(x, y, front, s) || (outline(x, y, back, s) && !in_front)
}

/// A check mark.
fn check_icon(x: f32, y: f32, s: f32) -> bool {
    let near = |(ax, ay): (f32, f32), (bx, by): (f32, f32)| {
        let (dx, dy) = (bx - ax, by - ay);
        let t = (((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
        let (px, py) = (ax + t * dx - x, ay + t * dy - y);
        (px * px + py * py).sqrt() <= s * 0.9
    };
    near((0.1, 0.55), (0.4, 0.85)) || near((0.4, 0.85), (0.92, 0.15))
}
