//! Turns a free-hand sketch into an MNIST-style input, the way MNIST itself was made: crop to the
//! ink's bounding box, scale to fit 20×20 keeping the aspect ratio (area-averaged, so thin strokes
//! keep grey levels instead of vanishing), then place in 28×28 with the centre of mass at the centre.

use crate::{Error, IMAGE_SIDE, Result};

/// Grey levels at or below this are paper, not ink.
pub const INK_THRESHOLD: f32 = 0.05;
const BOX: usize = 20;

/// `grey` is `width × height`, row-major, ink = 1, paper = 0. Returns 784 grey levels in [0, 1],
/// or None for a sketch with no ink (an empty pad is a normal state of the page, not an error).
pub fn preprocess(grey: &[f32], width: usize, height: usize) -> Result<Option<Vec<f32>>> {
    // checked: a product that wraps (65 536 × 65 536 in wasm32) must not pass for a short slice.
    if width == 0 || height == 0 || width.checked_mul(height) != Some(grey.len()) {
        return Err(Error::Input(format!("sketch has {} values, which is not {width}×{height}", grey.len())));
    }
    if let Some(i) = grey.iter().position(|v| !v.is_finite()) {
        return Err(Error::Input(format!("sketch value {i} is not finite")));
    }
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..height {
        for x in 0..width {
            if grey[y * width + x] > INK_THRESHOLD {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    if x0 == usize::MAX {
        return Ok(None);
    }
    let (bw, bh) = (x1 - x0, y1 - y0);
    let scale = BOX as f64 / bw.max(bh) as f64;
    let ow = ((bw as f64 * scale).round() as usize).clamp(1, BOX);
    let oh = ((bh as f64 * scale).round() as usize).clamp(1, BOX);

    // Area-weighted resampling: each output pixel is the mean of the input area it covers.
    let mut small = vec![0f32; ow * oh];
    let (sx, sy) = (bw as f64 / ow as f64, bh as f64 / oh as f64);
    for oy in 0..oh {
        let (fy0, fy1) = (oy as f64 * sy, (oy + 1) as f64 * sy);
        for ox in 0..ow {
            let (fx0, fx1) = (ox as f64 * sx, (ox + 1) as f64 * sx);
            let mut acc = 0.0;
            for iy in fy0.floor() as usize..(fy1.ceil() as usize).min(bh) {
                let wy = (fy1.min(iy as f64 + 1.0) - fy0.max(iy as f64)).max(0.0);
                for ix in fx0.floor() as usize..(fx1.ceil() as usize).min(bw) {
                    let wx = (fx1.min(ix as f64 + 1.0) - fx0.max(ix as f64)).max(0.0);
                    acc += wx * wy * grey[(y0 + iy) * width + x0 + ix].clamp(0.0, 1.0) as f64;
                }
            }
            small[oy * ow + ox] = (acc / (sx * sy)) as f32;
        }
    }

    // Place so that the centre of mass lands on the centre (14, 14), staying inside the frame.
    let (cx, cy) = centre_of_mass(&small, ow, oh);
    let half = IMAGE_SIDE as f64 / 2.0;
    let left = ((half - cx).round() as isize).clamp(0, (IMAGE_SIDE - ow) as isize) as usize;
    let top = ((half - cy).round() as isize).clamp(0, (IMAGE_SIDE - oh) as isize) as usize;
    let mut out = vec![0f32; IMAGE_SIDE * IMAGE_SIDE];
    for y in 0..oh {
        for x in 0..ow {
            out[(top + y) * IMAGE_SIDE + left + x] = small[y * ow + x];
        }
    }
    Ok(Some(out))
}

/// Centre of mass in pixel units, where pixel i spans [i, i + 1).
pub fn centre_of_mass(image: &[f32], width: usize, height: usize) -> (f64, f64) {
    let (mut m, mut mx, mut my) = (0.0, 0.0, 0.0);
    for y in 0..height {
        for x in 0..width {
            let v = image[y * width + x] as f64;
            m += v;
            mx += v * (x as f64 + 0.5);
            my += v * (y as f64 + 0.5);
        }
    }
    if m == 0.0 { (width as f64 / 2.0, height as f64 / 2.0) } else { (mx / m, my / m) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    #[test]
    fn centres_a_shifted_digit_and_fits_it_in_20_by_20() {
        let data =
            Dataset::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/data/mnist.bin")).unwrap();
        let digit = data.image(1234);
        // Paste the digit into the bottom-right corner of a 200×120 canvas, upscaled ×3.
        let (w, h) = (200, 120);
        let mut canvas = vec![0f32; w * h];
        for y in 0..84 {
            for x in 0..84 {
                canvas[(h - 84 + y) * w + (w - 84 + x)] = digit[(y / 3) * 28 + x / 3];
            }
        }
        let out = preprocess(&canvas, w, h).unwrap().unwrap();
        let (cx, cy) = centre_of_mass(&out, 28, 28);
        assert!((cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5, "centre of mass ({cx}, {cy})");
        let rows: Vec<usize> = (0..28).filter(|&y| (0..28).any(|x| out[y * 28 + x] > INK_THRESHOLD)).collect();
        let cols: Vec<usize> = (0..28).filter(|&x| (0..28).any(|y| out[y * 28 + x] > INK_THRESHOLD)).collect();
        let (bh, bw) = (rows.last().unwrap() - rows[0] + 1, cols.last().unwrap() - cols[0] + 1);
        assert_eq!(bh.max(bw), 20, "bounding box {bw}×{bh}");
        // And it still looks like the digit: strong correlation with the original.
        let wide = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        assert!(crate::model::quality::correlation(&wide(&out), &wide(&digit)) > 0.7);
    }

    #[test]
    fn keeps_aspect_ratio_and_rejects_empty_or_malformed_input() {
        // A vertical bar 10 wide, 100 tall → 2 wide, 20 tall.
        let (w, h) = (50, 120);
        let mut canvas = vec![0f32; w * h];
        for y in 10..110 {
            for x in 20..30 {
                canvas[y * w + x] = 1.0;
            }
        }
        let out = preprocess(&canvas, w, h).unwrap().unwrap();
        let ink = out.iter().filter(|&&v| v > 0.5).count();
        assert_eq!(ink, 40);
        assert_eq!(preprocess(&vec![0.0; 100], 10, 10).unwrap(), None, "no ink is an empty sketch, not an error");
        assert_eq!(preprocess(&vec![INK_THRESHOLD; 100], 10, 10).unwrap(), None, "paper below the threshold");
        assert!(preprocess(&[0.0; 10], 3, 3).is_err());
        assert!(preprocess(&[f32::NAN; 4], 2, 2).is_err());
    }
}

/// Properties of [`preprocess`] over its whole domain (any size, any finite grey levels).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::test_util::proptest_config;

    /// Any finite grey level, weighted towards what a pad holds: mostly paper, ink in [0, 1], and
    /// now and then anything finite (negative, subnormal, ±3e38), which `preprocess` clamps.
    fn grey_level() -> impl Strategy<Value = f32> {
        prop_oneof![
            12 => Just(0.0f32),
            2 => 0.0f32..=INK_THRESHOLD,
            4 => 0.0f32..=1.0,
            1 => prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO,
        ]
    }

    /// A sketch with ink in it, `(grey, width, height)`, of two kinds: grey levels everywhere
    /// (the ink's box is most of the canvas) and a few dots on a blank canvas (any box, and ink
    /// whose mass sits far from the box's middle: a heavy dot and a faint one).
    fn inked_sketch() -> impl Strategy<Value = (Vec<f32>, usize, usize)> {
        let everywhere = (1usize..=96, 1usize..=96)
            .prop_flat_map(|(w, h)| (prop::collection::vec(grey_level(), w * h), Just(w), Just(h)));
        let dots = (1usize..=300, 1usize..=300)
            .prop_flat_map(|(w, h)| {
                let dot = (0..w, 0..h, prop_oneof![3 => 0.06f32..=1.0, 1 => grey_level()]);
                (prop::collection::vec(dot, 1..6), Just(w), Just(h))
            })
            .prop_map(|(dots, w, h)| {
                let mut grey = vec![0.0; w * h];
                for (x, y, v) in dots {
                    grey[y * w + x] = v;
                }
                (grey, w, h)
            });
        prop_oneof![everywhere, dots].prop_filter("no ink", |(g, _, _)| g.iter().any(|&v| v > INK_THRESHOLD))
    }

    /// First and last index along one axis that holds any ink (> 0) in the 28×28 output.
    fn extent(out: &[f32], along_x: bool) -> (usize, usize) {
        let inked = |i: usize| {
            (0..IMAGE_SIDE).any(|j| out[if along_x { j * IMAGE_SIDE + i } else { i * IMAGE_SIDE + j }] > 0.0)
        };
        let lines: Vec<usize> = (0..IMAGE_SIDE).filter(|&i| inked(i)).collect();
        (lines[0], *lines.last().unwrap())
    }

    proptest! {
        #![proptest_config(proptest_config(256))]

        /// The ink's centre of mass lands on the centre (14, 14), to within half a pixel on each
        /// axis: the digit is moved by whole pixels (MNIST's own rule), so the rounding of the
        /// shift leaves up to 0.5 px. The one exception is by design: ink whose mass sits near one
        /// end of its 20-pixel box cannot be centred without pushing the box out of the frame, and
        /// then the box touches the frame's edge on the far side (as close as it can get, none of
        /// the ink cut off). And the ink's box is scaled to 20 pixels on its longer side.
        #[test]
        fn the_centre_of_mass_lands_on_the_centre((grey, w, h) in inked_sketch()) {
            let out = preprocess(&grey, w, h).unwrap().expect("a sketch with ink");
            prop_assert_eq!(out.len(), crate::IMAGE_PIXELS);
            prop_assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
            let (cx, cy) = centre_of_mass(&out, IMAGE_SIDE, IMAGE_SIDE);
            let half = IMAGE_SIDE as f64 / 2.0;
            for (axis, c, along_x) in [("x", cx, true), ("y", cy, false)] {
                let (first, last) = extent(&out, along_x);
                let centred = (c - half).abs() <= 0.5 + 1e-9;
                let pinned = (c < half && last == IMAGE_SIDE - 1) || (c > half && first == 0);
                prop_assert!(centred || pinned, "{}: centre of mass {} with ink from {} to {}", axis, c, first, last);
            }
            let ((x0, x1), (y0, y1)) = (extent(&out, true), extent(&out, false));
            prop_assert_eq!((x1 - x0 + 1).max(y1 - y0 + 1), BOX, "ink box {}..={} × {}..={}", x0, x1, y0, y1);
        }

        /// Any size and any values (NaN and ∞ too, any length): an answer (None exactly when no
        /// value is ink) or an error, never a panic; sizes whose product overflows included.
        #[test]
        fn any_input_is_an_answer_or_an_error_never_a_panic(
            (grey, w, h) in prop_oneof![
                (1usize..12, 1usize..12).prop_flat_map(|(w, h)| {
                    (prop::collection::vec(prop::num::f32::ANY, w * h), Just(w), Just(h))
                }),
                (prop::collection::vec(prop::num::f32::ANY, 0..40), any::<usize>(), 0usize..50),
                // 2^a × 2^(64−a) wraps to 0 in 64 bits (65 536 × 65 536 does in wasm32).
                (Just(vec![]), (1u32..64).prop_map(|a| 1usize << a), Just(0usize)).prop_map(|(g, w, _)| {
                    let h = (usize::MAX / w).wrapping_add(1);
                    (g, w, h)
                }),
            ]
        ) {
            let valid = w.checked_mul(h) == Some(grey.len()) && !grey.is_empty() && grey.iter().all(|v| v.is_finite());
            match preprocess(&grey, w, h) {
                Ok(answer) => {
                    prop_assert!(valid, "accepted {} values as {}×{}", grey.len(), w, h);
                    prop_assert_eq!(answer.is_some(), grey.iter().any(|&v| v > INK_THRESHOLD));
                }
                Err(e) => prop_assert!(!valid && matches!(e, Error::Input(_)), "{}", e),
            }
        }
    }

    /// Found by the property above: 2^32 × 2^32 wrapped to 0 and let an empty sketch through to
    /// index it (a panic; in wasm32 65 536 × 65 536 wraps the same way).
    #[test]
    fn sizes_whose_product_overflows_are_refused() {
        let e = preprocess(&[], 1 << 32, 1 << 32).unwrap_err();
        assert!(e.to_string().contains("sketch has 0 values, which is not 4294967296×4294967296"), "{e}");
    }
}
