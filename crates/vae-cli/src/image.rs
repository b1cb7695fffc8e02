//! PNG in and out for the CLI.

use std::io::Cursor;
use std::path::Path;

use vae::{IMAGE_PIXELS, IMAGE_SIDE};

/// Reads any PNG as grey "ink" in [0, 1], `(values, width, height)`. Transparent pixels count as
/// paper; the paper's colour is read off the border, so dark-on-light scans and light-on-dark
/// MNIST-style images both come out as ink = 1.
pub fn read_ink(path: &Path) -> Result<(Vec<f32>, usize, usize), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| format!("{} is not a readable PNG: {e}", path.display()))?;
    let size = reader.output_buffer_size().ok_or_else(|| format!("{}: image too large", path.display()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("{} is not a readable PNG: {e}", path.display()))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let lum: Vec<f32> = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| {
            let f = |v: u8| v as f32 / 255.0;
            let (grey, alpha) = match p.len() {
                1 => (f(p[0]), 1.0),
                2 => (f(p[0]), f(p[1])),
                3 => ((0.299 * f(p[0]) + 0.587 * f(p[1]) + 0.114 * f(p[2])), 1.0),
                _ => ((0.299 * f(p[0]) + 0.587 * f(p[1]) + 0.114 * f(p[2])), f(p[3])),
            };
            // Composite over white paper.
            grey * alpha + (1.0 - alpha)
        })
        .collect();
    let border: Vec<f32> = (0..w)
        .flat_map(|x| [lum[x], lum[(h - 1) * w + x]])
        .chain((0..h).flat_map(|y| [lum[y * w], lum[y * w + w - 1]]))
        .collect();
    let light_paper = border.iter().sum::<f32>() / border.len() as f32 > 0.5;
    Ok((lum.into_iter().map(|g| if light_paper { 1.0 - g } else { g }).collect(), w, h))
}

/// Writes 28×28 grey images as a grid, white ink on black like MNIST, each pixel `scale`× and a
/// 2-pixel grey gutter.
pub fn write_grid(path: &Path, images: &[f32], cols: usize, scale: usize) -> Result<(), String> {
    let n = images.len() / IMAGE_PIXELS;
    let rows = n.div_ceil(cols);
    let tile = IMAGE_SIDE * scale;
    let gap = 2;
    let (w, h) = (cols * (tile + gap) + gap, rows * (tile + gap) + gap);
    let mut out = vec![64u8; w * h];
    for (i, img) in images.chunks_exact(IMAGE_PIXELS).enumerate() {
        let (ox, oy) = (gap + (i % cols) * (tile + gap), gap + (i / cols) * (tile + gap));
        for y in 0..tile {
            for x in 0..tile {
                let v = img[(y / scale) * IMAGE_SIDE + x / scale];
                out[(oy + y) * w + ox + x] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    write_png(path, w, h, png::ColorType::Grayscale, &out)
}

/// An 8-bit PNG of `w × h` pixels of `colour`.
fn write_png(path: &Path, w: usize, h: usize, colour: png::ColorType, pixels: &[u8]) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(colour);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| failed(&e))?;
    writer.write_image_data(pixels).map_err(|e| failed(&e))
}

/// One colour per digit (Tableau's ten), the page's map colours too.
const DIGIT_COLOURS: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// Writes 2-D points (`n × 2`) as a `size`×`size` RGB scatter on white, each a 3×3 dot in its
/// digit's colour, the points' extent fitted with a margin.
pub fn write_scatter(path: &Path, positions: &[f32], labels: &[u8], size: usize) -> Result<(), String> {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY);
    for p in positions.chunks_exact(2) {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    let span = (x1 - x0).max(y1 - y0).max(f32::MIN_POSITIVE);
    let margin = 8.0;
    let scale = (size as f32 - 2.0 * margin) / span;
    let mut out = vec![255u8; size * size * 3];
    for (p, &label) in positions.chunks_exact(2).zip(labels) {
        let cx = (margin + (p[0] - x0) * scale) as isize;
        // Up is up: image rows grow downwards.
        let cy = (size as f32 - margin - (p[1] - y0) * scale) as isize;
        for y in cy - 1..=cy + 1 {
            for x in cx - 1..=cx + 1 {
                if (0..size as isize).contains(&x) && (0..size as isize).contains(&y) {
                    let at = (y as usize * size + x as usize) * 3;
                    out[at..at + 3].copy_from_slice(&DIGIT_COLOURS[label as usize % 10]);
                }
            }
        }
    }
    write_png(path, size, size, png::ColorType::Rgb, &out)
}
