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
    let file = std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    writer.write_image_data(&out).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
