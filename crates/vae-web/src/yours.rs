//! The person's own digits and "Learn my hand" (see `vae::session` `yours.rs`), translated: ids as JS
//! numbers, labels and grey levels as `Uint8Array`s, figures as JSON text.

use vae::session::{LearnRequest, YourDigit};
use wasm_bindgen::prelude::*;

use crate::{Session, js_err, to_js};

/// The largest whole number a JS number holds exactly: the page's store keys ids this far.
const MAX_SAFE_ID: f64 = 9_007_199_254_740_991.0;

fn id_of(id: f64) -> Result<u64, JsError> {
    if id.fract() != 0.0 || !(0.0..=MAX_SAFE_ID).contains(&id) {
        return Err(js_err(format!("digit id {id} is not a whole number from 0 to 2^53 − 1")));
    }
    Ok(id as u64)
}

/// Digits as bytes: each one's label, and its 784 grey levels × 255 one after another.
#[wasm_bindgen]
pub struct DigitBytes {
    labels: Vec<u8>,
    pixels: Vec<u8>,
}

#[wasm_bindgen]
impl DigitBytes {
    #[wasm_bindgen(getter)]
    pub fn labels(&self) -> Vec<u8> {
        self.labels.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn pixels(&self) -> Vec<u8> {
        self.pixels.clone()
    }
}

/// Files for the browser to download: names and bytes, in order.
#[wasm_bindgen]
pub struct Files {
    names: Vec<String>,
    files: Vec<Vec<u8>>,
}

#[wasm_bindgen]
impl Files {
    #[wasm_bindgen(getter)]
    pub fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// The file at `i`.
    pub fn file(&self, i: usize) -> Result<Vec<u8>, JsError> {
        self.files.get(i).cloned().ok_or_else(|| js_err(format!("there is no file {i}")))
    }
}

/// The digits of an IDX pair the person picked (images and labels, in either order, plain or
/// gzipped), or the reason they cannot be kept (nothing is read of a bad pair).
#[wasm_bindgen(js_name = readYourDigits)]
pub fn read_your_digits(first: Vec<u8>, second: Vec<u8>) -> Result<DigitBytes, JsError> {
    let digits = vae::session::read_your_digits([&first, &second]).map_err(js_err)?;
    let labels = digits.iter().map(|(label, _)| *label).collect();
    let pixels = digits.into_iter().flat_map(|(_, pixels)| pixels).collect();
    Ok(DigitBytes { labels, pixels })
}

#[wasm_bindgen]
impl Session {
    /// The sketch (`grey`, `width × height`) as it would be kept: JSON `{label, read, pixels}` (the
    /// 784 grey levels × 255); `label` as given, or if `undefined` read from its nearest neighbour.
    #[wasm_bindgen(js_name = digitToKeep)]
    pub async fn digit_to_keep(
        &self,
        grey: Vec<f32>,
        width: usize,
        height: usize,
        label: Option<u8>,
    ) -> Result<String, JsError> {
        to_js(&self.run(async |s| s.digit_to_keep(&grey, width, height, label).await).await?)
    }

    /// Keeps digits (the page's stored ones, or new ones it has stored): `ids` (whole numbers),
    /// `labels` and `pixels` (784 each), all or none. The number kept now.
    #[wasm_bindgen(js_name = addYourDigits)]
    pub async fn add_your_digits(&self, ids: Vec<f64>, labels: Vec<u8>, pixels: Vec<u8>) -> Result<usize, JsError> {
        if labels.len() != ids.len() || pixels.len() != ids.len() * vae::IMAGE_PIXELS {
            return Err(js_err(format!(
                "{} ids, {} labels and {} grey levels do not make whole digits",
                ids.len(),
                labels.len(),
                pixels.len()
            )));
        }
        let digits = ids
            .iter()
            .zip(labels)
            .zip(pixels.chunks(vae::IMAGE_PIXELS))
            .map(|((&id, label), pixels)| Ok(YourDigit { id: id_of(id)?, label, pixels: pixels.to_vec() }))
            .collect::<Result<Vec<_>, JsError>>()?;
        self.run(async |s| s.add_your_digits(digits).await).await
    }

    /// The kept digits as the page lists them: JSON `[{id, label, heldOut}]`, in their order.
    #[wasm_bindgen(js_name = yourDigitList)]
    pub fn your_digit_list(&self) -> Result<String, JsError> {
        to_js(&self.now(|s| Ok(s.your_digit_list()))?)
    }

    /// The kept digits' grey levels × 255, 784 each, in their order.
    #[wasm_bindgen(js_name = yourDigitPixels)]
    pub fn your_digit_pixels(&self) -> Result<Vec<u8>, JsError> {
        self.now(|s| Ok(s.your_digits().iter().flat_map(|d| d.pixels.iter().copied()).collect()))
    }

    #[wasm_bindgen(js_name = removeYourDigit)]
    pub async fn remove_your_digit(&self, id: f64) -> Result<(), JsError> {
        let id = id_of(id)?;
        self.run(async |s| s.remove_your_digit(id).await).await
    }

    #[wasm_bindgen(js_name = relabelYourDigit)]
    pub fn relabel_your_digit(&self, id: f64, label: u8) -> Result<(), JsError> {
        let id = id_of(id)?;
        self.now(|s| s.relabel_your_digit(id, label))
    }

    #[wasm_bindgen(js_name = clearYourDigits)]
    pub fn clear_your_digits(&self) -> Result<(), JsError> {
        self.now(|s| {
            s.clear_your_digits();
            Ok(())
        })
    }

    /// The kept digits as MNIST's IDX pair, named as `vae eval --data your-digits` finds them.
    #[wasm_bindgen(js_name = exportYourDigits)]
    pub fn export_your_digits(&self) -> Result<Files, JsError> {
        let [(images_name, images), (labels_name, labels)] = self.now(|s| s.your_digits_idx())?;
        Ok(Files { names: vec![images_name, labels_name], files: vec![images, labels] })
    }

    /// Starts "Learn my hand" (JSON [`LearnRequest`]): JSON `LearnStarted`.
    #[wasm_bindgen(js_name = learnYourHand)]
    pub async fn learn_your_hand(&self, request: String) -> Result<String, JsError> {
        let request: LearnRequest =
            serde_json::from_str(&request).map_err(|e| js_err(format!("invalid request to learn your hand: {e}")))?;
        let started = self.run(async |s| s.learn_your_hand(request).await).await?;
        self.keep_held();
        to_js(&started)
    }

    /// How the model of `kind` ("vae": the page's; "cvae": the conditional one) does on the
    /// person's held-out digits, now and before the last "Learn my hand" of it: JSON `YourHand`.
    #[wasm_bindgen(js_name = yourHand)]
    pub async fn your_hand(&self, kind: String) -> Result<String, JsError> {
        let kind = vae::ModelKind::parse(&kind).map_err(js_err)?;
        to_js(&self.run(async |s| s.your_hand(kind).await).await?)
    }
}
