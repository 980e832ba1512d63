//! A CPU rasterizer for egui_kittest snapshots.
//!
//! Hand-written because nothing off the shelf fits: egui_kittest's only built-in renderer is
//! wgpu, which needs a Vulkan or GL driver on CI and minutes of extra compile time, and the
//! software backend crate (`egui_software_backend`) only supports egui 0.34. egui's output is
//! simple enough to draw directly: textured triangles with premultiplied gamma-space colours
//! and a scissor rectangle each, which is all this does, the way `egui_glow`'s shader does it.
//!
//! Coordinates are snapped to 1/256 pixel and edges tested with integers, so a pixel on the
//! edge two triangles share is drawn exactly once (the GPU's top-left rule) and every run on
//! every machine produces the same bytes.

use std::collections::HashMap;

use egui::epaint::{ClippedPrimitive, Primitive, Vertex};
use egui::{
    Color32, Rect, TextureFilter, TextureId, TextureOptions, TextureWrapMode, TexturesDelta,
};
use image::RgbaImage;

/// Subpixel precision of vertex positions, in bits.
const SUBPIXEL_BITS: u32 = 8;
const SUBPIXEL: i64 = 1 << SUBPIXEL_BITS;

struct Texture {
    size: [usize; 2],
    pixels: Vec<Color32>,
    options: TextureOptions,
}

/// Draws egui output into an [`RgbaImage`] on the CPU.
#[derive(Default)]
pub struct CpuRenderer {
    textures: HashMap<TextureId, Texture>,
    /// Frees from the last delta: egui frees a texture only after the frame that still uses
    /// it has been painted.
    pending_free: Vec<TextureId>,
}

impl CpuRenderer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies texture changes, like a backend does before painting a frame.
    pub fn apply_textures(&mut self, delta: &mut TexturesDelta) {
        for id in self.pending_free.drain(..) {
            self.textures.remove(&id);
        }
        // Each id's deltas are applied in order; the order between ids does not matter.
        for (id, deltas) in delta.set.drain() {
            for image_delta in deltas {
                let egui::ImageData::Color(image) = &image_delta.image;
                match image_delta.pos {
                    None => {
                        self.textures.insert(
                            id,
                            Texture {
                                size: image.size,
                                pixels: image.pixels.clone(),
                                options: image_delta.options,
                            },
                        );
                    }
                    Some([x0, y0]) => {
                        let Some(texture) = self.textures.get_mut(&id) else {
                            continue;
                        };
                        let [w, h] = image.size;
                        for y in 0..h {
                            let dst = (y0 + y) * texture.size[0] + x0;
                            texture.pixels[dst..dst + w]
                                .copy_from_slice(&image.pixels[y * w..(y + 1) * w]);
                        }
                        texture.options = image_delta.options;
                    }
                }
            }
        }
        self.pending_free.extend(delta.free.drain());
    }

    /// Whether a texture is held (for tests of the delta handling).
    pub fn has_texture(&self, id: TextureId) -> bool {
        self.textures.contains_key(&id)
    }

    /// Paints tessellated primitives onto `background`, `size` physical pixels large.
    pub fn paint(
        &self,
        primitives: &[ClippedPrimitive],
        pixels_per_point: f32,
        size: [u32; 2],
        background: Color32,
    ) -> Result<RgbaImage, String> {
        let mut target = Target {
            width: size[0] as i64,
            height: size[1] as i64,
            pixels: vec![background.to_array(); (size[0] * size[1]) as usize],
        };
        for ClippedPrimitive {
            clip_rect,
            primitive,
        } in primitives
        {
            let Primitive::Mesh(mesh) = primitive else {
                // Paint callbacks draw with the GPU; this app has none.
                continue;
            };
            let texture = self
                .textures
                .get(&mesh.texture_id)
                .ok_or_else(|| format!("mesh uses unknown texture {:?}", mesh.texture_id))?;
            let clip = target.scissor(*clip_rect, pixels_per_point);
            for tri in mesh.indices.chunks_exact(3) {
                let corner = |i: u32| {
                    mesh.vertices
                        .get(i as usize)
                        .ok_or_else(|| format!("index {i} out of the mesh's vertices"))
                };
                let vertices = [corner(tri[0])?, corner(tri[1])?, corner(tri[2])?];
                target.triangle(vertices, pixels_per_point, clip, texture);
            }
        }
        let bytes = target.pixels.into_iter().flatten().collect();
        RgbaImage::from_raw(size[0], size[1], bytes)
            .ok_or_else(|| "image buffer has the wrong size".to_owned())
    }
}

impl egui_kittest::TestRenderer for CpuRenderer {
    fn handle_delta(&mut self, delta: &mut TexturesDelta) {
        self.apply_textures(delta);
    }

    fn render(
        &mut self,
        ctx: &egui::Context,
        output: &egui::FullOutput,
    ) -> Result<RgbaImage, String> {
        let pixels_per_point = output.pixels_per_point;
        let size = ctx.content_rect().size() * pixels_per_point;
        let primitives = ctx.tessellate(output.shapes.clone(), pixels_per_point);
        // The panels paint over all of it; this only shows where nothing is drawn.
        let background = ctx.global_style().visuals.panel_fill;
        self.paint(
            &primitives,
            pixels_per_point,
            [size.x.round() as u32, size.y.round() as u32],
            background,
        )
    }
}

/// Pixel bounds `[x0, y0, x1, y1)`.
type Bounds = [i64; 4];

struct Target {
    width: i64,
    height: i64,
    /// Premultiplied gamma-space RGBA, as egui_glow's framebuffer holds it.
    pixels: Vec<[u8; 4]>,
}

impl Target {
    /// The scissor rectangle the way egui_glow computes it: rounded to whole pixels.
    fn scissor(&self, clip: Rect, pixels_per_point: f32) -> Bounds {
        let px = |v: f32, max: i64| ((v * pixels_per_point).round() as i64).clamp(0, max);
        let x0 = px(clip.min.x, self.width);
        let y0 = px(clip.min.y, self.height);
        [
            x0,
            y0,
            px(clip.max.x, self.width).max(x0),
            px(clip.max.y, self.height).max(y0),
        ]
    }

    fn triangle(
        &mut self,
        vertices: [&Vertex; 3],
        pixels_per_point: f32,
        clip: Bounds,
        texture: &Texture,
    ) {
        let fixed = |v: &Vertex| {
            [
                (v.pos.x * pixels_per_point * SUBPIXEL as f32).round() as i64,
                (v.pos.y * pixels_per_point * SUBPIXEL as f32).round() as i64,
            ]
        };
        let [mut a, mut b, c] = vertices;
        let [mut pa, mut pb, pc] = [fixed(a), fixed(b), fixed(c)];
        let mut area = edge(pa, pb, pc);
        if area == 0 {
            return;
        }
        // egui uses both windings; make every triangle clockwise on screen.
        if area < 0 {
            std::mem::swap(&mut a, &mut b);
            std::mem::swap(&mut pa, &mut pb);
            area = -area;
        }

        let floor_px = |v: i64| v.div_euclid(SUBPIXEL);
        let ceil_px = |v: i64| (v + SUBPIXEL - 1).div_euclid(SUBPIXEL);
        let x0 = floor_px(pa[0].min(pb[0]).min(pc[0])).max(clip[0]);
        let y0 = floor_px(pa[1].min(pb[1]).min(pc[1])).max(clip[1]);
        let x1 = ceil_px(pa[0].max(pb[0]).max(pc[0])).min(clip[2]);
        let y1 = ceil_px(pa[1].max(pb[1]).max(pc[1])).min(clip[3]);
        if x0 >= x1 || y0 >= y1 {
            return;
        }

        let shade = Shade::new([a, b, c], texture);
        // The edge opposite each vertex, and the bias that leaves pixels exactly on a
        // bottom or right edge to the neighbouring triangle.
        let edges = [(pb, pc), (pc, pa), (pa, pb)];
        let bias = edges.map(|(p, q)| i64::from(!is_top_left(p, q)));
        let area_f = area as f64;
        for y in y0..y1 {
            let py = y * SUBPIXEL + SUBPIXEL / 2;
            for x in x0..x1 {
                let p = [x * SUBPIXEL + SUBPIXEL / 2, py];
                let w = [
                    edge(edges[0].0, edges[0].1, p),
                    edge(edges[1].0, edges[1].1, p),
                    edge(edges[2].0, edges[2].1, p),
                ];
                if w[0] < bias[0] || w[1] < bias[1] || w[2] < bias[2] {
                    continue;
                }
                let weights = w.map(|w| (w as f64 / area_f) as f32);
                let src = shade.at(weights);
                let dst = &mut self.pixels[(y * self.width + x) as usize];
                *dst = blend(src, *dst);
            }
        }
    }
}

/// Twice the signed area of (a, b, p): positive when p is right of a→b on screen (y down).
fn edge(a: [i64; 2], b: [i64; 2], p: [i64; 2]) -> i64 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

/// For a clockwise triangle (y down): a top edge runs right, a left edge runs up.
fn is_top_left(a: [i64; 2], b: [i64; 2]) -> bool {
    (a[1] == b[1] && b[0] > a[0]) || b[1] < a[1]
}

/// Colour of a point inside a triangle, from its barycentric weights.
struct Shade<'t> {
    colors: [[f32; 4]; 3],
    uvs: [[f32; 2]; 3],
    texture: &'t Texture,
    /// Set when the whole triangle has one colour (rect fills, lines): no per-pixel work.
    flat: Option<[f32; 4]>,
}

impl<'t> Shade<'t> {
    fn new(v: [&Vertex; 3], texture: &'t Texture) -> Self {
        let color = |v: &Vertex| v.color.to_array().map(f32::from);
        let uv = |v: &Vertex| [v.uv.x, v.uv.y];
        let mut shade = Self {
            colors: [color(v[0]), color(v[1]), color(v[2])],
            uvs: [uv(v[0]), uv(v[1]), uv(v[2])],
            texture,
            flat: None,
        };
        let same = |x: &[f32; 4]| *x == shade.colors[0];
        let same_uv = |x: &[f32; 2]| *x == shade.uvs[0];
        if shade.colors.iter().all(same) && shade.uvs.iter().all(same_uv) {
            shade.flat = Some(modulate(shade.colors[0], texture.sample(shade.uvs[0])));
        }
        shade
    }

    fn at(&self, w: [f32; 3]) -> [f32; 4] {
        if let Some(flat) = self.flat {
            return flat;
        }
        let mix = |i: usize| {
            w[0] * self.colors[0][i] + w[1] * self.colors[1][i] + w[2] * self.colors[2][i]
        };
        let color = [mix(0), mix(1), mix(2), mix(3)];
        let uv = [
            w[0] * self.uvs[0][0] + w[1] * self.uvs[1][0] + w[2] * self.uvs[2][0],
            w[0] * self.uvs[0][1] + w[1] * self.uvs[1][1] + w[2] * self.uvs[2][1],
        ];
        modulate(color, self.texture.sample(uv))
    }
}

/// Vertex colour times texel, both premultiplied gamma in 0..=255 (egui_glow's shader).
fn modulate(color: [f32; 4], texel: [f32; 4]) -> [f32; 4] {
    [0, 1, 2, 3].map(|i| color[i] * texel[i] / 255.0)
}

/// Premultiplied "over": `dst = src + dst * (1 - src_alpha)`.
fn blend(src: [f32; 4], dst: [u8; 4]) -> [u8; 4] {
    let keep = 1.0 - src[3] / 255.0;
    [0, 1, 2, 3].map(|i| {
        (src[i] + f32::from(dst[i]) * keep)
            .round()
            .clamp(0.0, 255.0) as u8
    })
}

impl Texture {
    fn texel(&self, x: i64, y: i64) -> [f32; 4] {
        let wrap = |v: i64, n: usize| {
            let n = n as i64;
            match self.options.wrap_mode {
                TextureWrapMode::ClampToEdge => v.clamp(0, n - 1),
                TextureWrapMode::Repeat => v.rem_euclid(n),
                TextureWrapMode::MirroredRepeat => {
                    let m = v.rem_euclid(2 * n);
                    if m < n { m } else { 2 * n - 1 - m }
                }
            }
        };
        let (x, y) = (wrap(x, self.size[0]), wrap(y, self.size[1]));
        self.pixels[(y * self.size[0] as i64 + x) as usize]
            .to_array()
            .map(f32::from)
    }

    /// Samples at normalized `uv`; screen and texture pixels are about the same size here,
    /// so the magnification filter decides.
    fn sample(&self, uv: [f32; 2]) -> [f32; 4] {
        if self.size[0] == 0 || self.size[1] == 0 {
            return [255.0; 4];
        }
        let x = uv[0] * self.size[0] as f32 - 0.5;
        let y = uv[1] * self.size[1] as f32 - 0.5;
        match self.options.magnification {
            TextureFilter::Nearest => {
                self.texel((x + 0.5).floor() as i64, (y + 0.5).floor() as i64)
            }
            TextureFilter::Linear => {
                let (fx, fy) = (x.floor(), y.floor());
                let (tx, ty) = (x - fx, y - fy);
                let (ix, iy) = (fx as i64, fy as i64);
                let [c00, c10, c01, c11] = [
                    self.texel(ix, iy),
                    self.texel(ix + 1, iy),
                    self.texel(ix, iy + 1),
                    self.texel(ix + 1, iy + 1),
                ];
                [0, 1, 2, 3].map(|i| {
                    let top = c00[i] + (c10[i] - c00[i]) * tx;
                    let bottom = c01[i] + (c11[i] - c01[i]) * tx;
                    top + (bottom - top) * ty
                })
            }
        }
    }
}
