//! The model's weights on the host, and their file format.
//!
//! Files are safetensors laid out like the seed's PyTorch module: `fc1`, `fc21`, `fc22`, `fc3`,
//! `fc4`, each `.weight` of shape [out, in] and `.bias` of shape [out], f32 little-endian, with the
//! configuration in the metadata (`hidden`, `latent`, `beta`, `kind`). So `torch.nn.Module.load_state_dict(
//! safetensors.torch.load_file(path))` reads our files and we read theirs (their metadata may be
//! missing: the shapes then say the kind — fc1 takes 784 inputs in the seed's model, 784 + 10 in the
//! conditional one —, the hidden width and latent size, and β defaults to 1). F16 and
//! BF16 files are read too (PyTorch saves half-precision models that way), and
//! [`VaeWeights::to_safetensors_f16`] writes one: the page fetches its default model as f16, half
//! the bytes, and computes in f32.
//!
//! An 8-bit copy, for transfer only ([`VaeWeights::to_safetensors_q8`], metadata `format` = `q8`):
//! each `.weight` is I8 [out, in] beside a `.weight.scale`, F32 [out], one step per row, and reads as
//! `weight[o, i] = q[o, i] · scale[o]` in f32; biases stay f32. PyTorch's `load_state_dict` cannot
//! take it as is (the format key says so to tools that check it), and the session computes in f32.

use std::collections::HashMap;

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use sha2::{Digest, Sha256};

use crate::config::{CLASSES, ModelKind};
use crate::{Error, IMAGE_PIXELS, Result, VaeConfig, rng::Rng};

/// Refuse files larger than any model this project makes (the default is 2.6 MB) long before
/// parsing them: a browser tab must not try to hold hundreds of MB.
pub const MAX_FILE_BYTES: usize = crate::limits::LIMITS.max_model_bytes;

/// One linear layer, in PyTorch's layout: `weight[o * inputs + i]` maps input i to output o.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerWeights {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// All of a model's weights and its configuration, host-side.
#[derive(Debug, Clone, PartialEq)]
pub struct VaeWeights {
    pub config: VaeConfig,
    /// fc1, fc21, fc22, fc3, fc4, in the order of [`VaeConfig::layers`].
    pub layers: [LayerWeights; 5],
}

impl VaeWeights {
    /// PyTorch's default `nn.Linear` initialisation: weight and bias uniform in ±1/√inputs.
    pub fn init(config: VaeConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = Rng::new(seed);
        let layers = config.layers().map(|(_, inputs, outputs)| {
            let bound = 1.0 / (inputs as f64).sqrt();
            let mut uniform =
                |n: usize| -> Vec<f32> { (0..n).map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32).collect() };
            let weight = uniform(inputs * outputs);
            let bias = uniform(outputs);
            LayerWeights { weight, bias }
        });
        Ok(Self { config, layers })
    }

    /// Checks shapes against the configuration and that every value is finite.
    pub fn validate(&self) -> Result<()> {
        self.config.validate().map_err(|e| Error::Weights(e.to_string()))?;
        for ((name, inputs, outputs), layer) in self.config.layers().iter().zip(&self.layers) {
            if layer.weight.len() != inputs * outputs {
                return Err(Error::Weights(format!(
                    "{name}.weight has {} values, expected {outputs}×{inputs}",
                    layer.weight.len()
                )));
            }
            if layer.bias.len() != *outputs {
                return Err(Error::Weights(format!("{name}.bias has {} values, expected {outputs}", layer.bias.len())));
            }
            for (part, values) in [("weight", &layer.weight), ("bias", &layer.bias)] {
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    return Err(Error::Weights(format!(
                        "{name}.{part} holds a non-finite value ({}) at index {i}",
                        values[i]
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        self.serialize(PYTORCH_FORMAT, |name, shape, values| {
            vec![(name.to_string(), Dtype::F32, shape, f32_bytes(values))]
        })
    }

    /// The same file with every value rounded to the nearest f16 (for transfer: half the bytes;
    /// reading it back gives these weights rounded, to about 3 significant digits). Refused if a
    /// value is beyond f16's range (±65 504).
    pub fn to_safetensors_f16(&self) -> Result<Vec<u8>> {
        if let Some(v) =
            self.layers.iter().flat_map(|l| l.weight.iter().chain(&l.bias)).find(|v| v.abs() > f16::MAX.to_f32())
        {
            return Err(Error::Weights(format!("the value {v} is beyond f16's range")));
        }
        self.serialize(PYTORCH_FORMAT, |name, shape, values| {
            let bytes = values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect();
            vec![(name.to_string(), Dtype::F16, shape, bytes)]
        })
    }

    /// The 8-bit copy, for transfer (a quarter of the f32 file's bytes; after brotli 0.50 MB against
    /// the f16 file's 1.12 MB for the default model): every weight becomes the nearest multiple of its
    /// tensor's step (the tensor's largest magnitude over 127), so within half a step of its value;
    /// biases stay f32. Read back by [`VaeWeights::from_safetensors`] (format `q8`), in f32.
    ///
    /// The layout, chosen by the bytes after brotli at quality 11 (window 2²⁴, as
    /// `scripts/precompress.mjs` sends the model) of the committed models' 651 200 (default) and
    /// 644 800 (conditional) weights, and by the test loss with z = μ (`vae eval`; f32 114.1692 and
    /// 135.1056 nats), measured by `node scripts/measure-q8.mjs www/model/<model>.safetensors`
    /// (2026-12-06):
    ///
    /// | step | bytes (default, conditional) | test loss |
    /// |---|---|---|
    /// | one per row, its own largest magnitude / 127 (symmetric) | 594 724, 551 207 | 114.1569, 135.1282 |
    /// | one per row, affine (minimum + step · u8, 255 steps) | 616 003, 578 814 | 114.1996, 135.1515 |
    /// | **one per tensor, symmetric (this)** | **493 002, 402 935** | **114.1810, 135.1357** |
    ///
    /// With a step shared by the tensor's rows, a row of small values uses few of the 255 codes,
    /// which brotli writes in fewer bits; the loss stays well within 0.1 nats of the f32 model's.
    /// The file keeps a scale per row (PyTorch's per-channel layout), so a writer may give a row
    /// with outliers its own step without changing the readers. Of the byte orders tried for the
    /// I8 values, row-major two's complement (PyTorch's) is kept; the others, with one step per
    /// tensor: transposed 491 355 / 394 443 (0.3 % and 2 % smaller, not PyTorch's layout), offset
    /// binary 493 754 / 403 420, zigzag 494 777 / 405 048, sign and magnitude 493 299 / 403 241, each
    /// value minus its left neighbour 513 028 / 425 271, minus the one above 513 830 / 411 281.
    pub fn to_safetensors_q8(&self) -> Result<Vec<u8>> {
        self.serialize(Q8_FORMAT, |name, shape, values| {
            if name.ends_with(".bias") {
                return vec![(name.to_string(), Dtype::F32, shape, f32_bytes(values))];
            }
            let step = q8_step(values);
            let q = values.iter().map(|v| q8_code(*v, step)).collect();
            let rows = shape[0];
            vec![
                (name.to_string(), Dtype::I8, shape, q),
                (format!("{name}.scale"), Dtype::F32, vec![rows], f32_bytes(&vec![step; rows])),
            ]
        })
    }

    /// Writes each layer's weight and bias as `tensors_of(name, shape, values)` gives them (one
    /// tensor or more: a q8 weight comes with its scale), with the configuration and `format` in
    /// the metadata.
    fn serialize(
        &self,
        format: &str,
        tensors_of: impl Fn(&str, Vec<usize>, &[f32]) -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    ) -> Result<Vec<u8>> {
        self.validate()?;
        let names = self.config.layers();
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for ((name, inputs, outputs), layer) in names.iter().zip(&self.layers) {
            owned.extend(tensors_of(&format!("{name}.weight"), vec![*outputs, *inputs], &layer.weight));
            owned.extend(tensors_of(&format!("{name}.bias"), vec![*outputs], &layer.bias));
        }
        let views = owned
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes).map(|view| (name.clone(), view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Weights(e.to_string()))?;
        let metadata = HashMap::from([
            ("format".to_string(), format.to_string()),
            ("model".to_string(), "latent-sketchpad-vae".to_string()),
            ("input".to_string(), IMAGE_PIXELS.to_string()),
            ("hidden".to_string(), self.config.hidden.to_string()),
            ("latent".to_string(), self.config.latent.to_string()),
            ("beta".to_string(), self.config.beta.to_string()),
            ("kind".to_string(), self.config.kind.name().to_string()),
        ]);
        safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Weights(e.to_string()))
    }

    /// Parses and validates a safetensors file: every expected name present, nothing else, every
    /// shape consistent, every value finite. Errors say exactly what is wrong.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(Error::Weights(format!(
                "file is {} bytes; a model file is at most {MAX_FILE_BYTES} bytes",
                bytes.len()
            )));
        }
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::Weights(format!("not a safetensors file ({})", describe(&e))))?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::Weights(format!("not a safetensors file ({})", describe(&e))))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let quantized = metadata.get("format").is_some_and(|f| f.trim() == Q8_FORMAT);

        let layers = ["fc1", "fc21", "fc22", "fc3", "fc4"];
        let mut expected: Vec<String> =
            layers.iter().flat_map(|l| [format!("{l}.weight"), format!("{l}.bias")]).collect();
        if quantized {
            expected.extend(layers.iter().map(|l| format!("{l}.weight.scale")));
        }
        let mut names: Vec<String> = tensors.names().into_iter().map(str::to_string).collect();
        names.sort();
        let missing: Vec<&String> = expected.iter().filter(|n| !names.contains(n)).collect();
        if !missing.is_empty() {
            return Err(Error::Weights(format!("missing tensor(s) {}", join(&missing))));
        }
        let unexpected: Vec<&String> = names.iter().filter(|n| !expected.contains(n)).collect();
        if !unexpected.is_empty() {
            let why = if unexpected.iter().any(|n| n.ends_with(".scale")) {
                format!(" (scales belong to an 8-bit file, whose metadata says format = {Q8_FORMAT})")
            } else {
                String::new()
            };
            return Err(Error::Weights(format!("unexpected tensor(s) {}{why}", join(&unexpected))));
        }

        let view = |name: &str| tensors.tensor(name).map_err(|e| Error::Weights(format!("{name}: {}", describe(&e))));
        let shape = |name: &str, rank: usize| -> Result<Vec<usize>> {
            let shape = view(name)?.shape().to_vec();
            if shape.len() != rank {
                return Err(Error::Weights(format!("{name} has shape {shape:?}, expected {rank} dimension(s)")));
            }
            Ok(shape)
        };
        let floats = |name: &str| -> Result<Vec<f32>> {
            let view = view(name)?;
            let decode: fn(&[u8]) -> f32 = match view.dtype() {
                Dtype::F32 => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                Dtype::F16 => |b| f16::from_le_bytes([b[0], b[1]]).to_f32(),
                Dtype::BF16 => |b| bf16::from_le_bytes([b[0], b[1]]).to_f32(),
                Dtype::I8 if !quantized => {
                    return Err(Error::Weights(format!(
                        "{name} is I8, expected F32, F16 or BF16 (8-bit weights need their scales and the metadata \
                         format = {Q8_FORMAT})"
                    )));
                }
                other => return Err(Error::Weights(format!("{name} is {other:?}, expected F32, F16 or BF16"))),
            };
            Ok(view.data().chunks_exact(view.dtype().bitsize() / 8).map(decode).collect())
        };

        // The shapes of fc1 and fc21 say the kind, the hidden width and the latent size.
        let fc1_shape = shape("fc1.weight", 2)?;
        let fc21_shape = shape("fc21.weight", 2)?;
        let Some(kind) = ModelKind::from_encoder_inputs(fc1_shape[1]) else {
            let beyond = fc1_shape[1].checked_sub(IMAGE_PIXELS).filter(|&extra| extra > 0);
            let why = match beyond {
                Some(extra) => format!("; its {extra} inputs beyond the pixels would be {extra} labels, not {CLASSES}"),
                None => String::new(),
            };
            return Err(Error::Weights(format!(
                "fc1.weight has shape {fc1_shape:?}, expected [hidden, {IMAGE_PIXELS}] (the VAE) or [hidden, {}] (the \
                 conditional VAE: {IMAGE_PIXELS} pixels and {CLASSES} labels){why}",
                IMAGE_PIXELS + CLASSES
            )));
        };
        if let Some(named) = metadata.get("kind") {
            let named = ModelKind::parse(named.trim()).map_err(|e| Error::Weights(format!("metadata: {e}")))?;
            if named != kind {
                return Err(Error::Weights(format!(
                    "metadata says kind = {} but fc1.weight's shape {fc1_shape:?} is the {}'s",
                    named.name(),
                    kind.name()
                )));
            }
        }
        let hidden = fc1_shape[0];
        let latent = fc21_shape[0];
        let from_meta = |key: &str| -> Result<Option<f64>> {
            metadata
                .get(key)
                .map(|v| {
                    v.trim()
                        .parse::<f64>()
                        .map_err(|_| Error::Weights(format!("metadata {key} = {v:?} is not a number")))
                })
                .transpose()
        };
        for (key, value) in [("hidden", hidden), ("latent", latent)] {
            if let Some(m) = from_meta(key)?
                && m != value as f64
            {
                return Err(Error::Weights(format!("metadata says {key} = {m} but the tensors' shapes say {value}")));
            }
        }
        let beta = from_meta("beta")?.unwrap_or(1.0);
        let config = VaeConfig { hidden, latent, beta, kind };
        config.validate().map_err(|e| Error::Weights(e.to_string()))?;

        let mut layers = Vec::with_capacity(5);
        for (name, inputs, outputs) in config.layers() {
            let w_name = format!("{name}.weight");
            let w_shape = shape(&w_name, 2)?;
            if w_shape != [outputs, inputs] {
                let conditioned = match (kind, name) {
                    (ModelKind::Cvae, "fc3") => format!(" (latent {latent} and {CLASSES} labels in)"),
                    _ => String::new(),
                };
                return Err(Error::Weights(format!(
                    "{name}.weight has shape {w_shape:?}, expected [{outputs}, {inputs}]{conditioned}"
                )));
            }
            let weight = if quantized {
                dequantize(&w_name, &view(&w_name)?, &view(&format!("{w_name}.scale"))?)?
            } else {
                floats(&w_name)?
            };
            let b_name = format!("{name}.bias");
            let b_shape = shape(&b_name, 1)?;
            if b_shape != [outputs] {
                return Err(Error::Weights(format!("{b_name} has shape {b_shape:?}, expected [{outputs}]")));
            }
            layers.push(LayerWeights { weight, bias: floats(&b_name)? });
        }
        let weights = Self { config, layers: layers.try_into().expect("five layers") };
        weights.validate()?;
        Ok(weights)
    }

    pub fn load(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|source| Error::Io { context: format!("cannot read {}", path.display()), source })?;
        Self::from_safetensors(&bytes).map_err(|e| match e {
            Error::Weights(m) => Error::Weights(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// The model's SHA-256 as values: its configuration and every weight, in a fixed order, so
    /// the same values have the same digest whatever file they were read from (f32, or f16 whose
    /// values f32 holds exactly; our metadata, or PyTorch's none). Not the SHA-256 of [`VaeWeights::to_safetensors`]: that file's metadata is a map
    /// written in the iteration order of a `HashMap` (safetensors 0.8), which changes from one
    /// process, and in wasm from one map, to the next. The page keeps a t-SNE map per model by it,
    /// and the map file shipped beside its default model names it (`session::map_file`).
    pub fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        let c = &self.config;
        hash.update(b"latent-sketchpad-vae\0");
        hash.update(c.kind.name().as_bytes());
        hash.update([0]);
        for size in [c.hidden, c.latent] {
            hash.update((size as u64).to_le_bytes());
        }
        hash.update(c.beta.to_bits().to_le_bytes());
        for values in self.layers.iter().flat_map(|l| [&l.weight, &l.bias]) {
            hash.update((values.len() as u64).to_le_bytes());
            for chunk in values.chunks(4096) {
                hash.update(f32_bytes(chunk));
            }
        }
        hash.finalize().into()
    }

    /// [`VaeWeights::digest`] as 64 lower-case hex digits.
    pub fn digest_hex(&self) -> String {
        hex(&self.digest())
    }

    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let bytes = self.to_safetensors()?;
        std::fs::write(path, bytes)
            .map_err(|source| Error::Io { context: format!("cannot write {}", path.display()), source })
    }
}

/// The `format` in the metadata of the files PyTorch reads as they are (f32 and f16).
const PYTORCH_FORMAT: &str = "pt";
/// The `format` of the 8-bit copy ([`VaeWeights::to_safetensors_q8`]).
const Q8_FORMAT: &str = "q8";

/// A q8 tensor's step: its largest magnitude over 127, rounded up to an f32 so that every value
/// is within ±127 steps, yet such that 127 steps stay finite (a tensor near f32's largest value);
/// 0 for a tensor of zeros.
fn q8_step(values: &[f32]) -> f32 {
    let largest = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let exact = largest as f64 / 127.0;
    let mut step = exact as f32;
    if (step as f64) < exact {
        step = step.next_up();
    }
    if (step * 127.0).is_infinite() {
        step = step.next_down();
    }
    step
}

/// `value`'s nearest multiple of `step` (which makes every value of its tensor fit), as an I8's byte.
fn q8_code(value: f32, step: f32) -> u8 {
    if step == 0.0 { 0 } else { (value as f64 / step as f64).round().clamp(-127.0, 127.0) as i8 as u8 }
}

/// A q8 weight [out, in] (I8) and its scale [out] (F32, finite, not negative) as f32 values,
/// `q[o, i] · scale[o]`; `weight`'s shape has been checked.
fn dequantize(name: &str, weight: &TensorView, scale: &TensorView) -> Result<Vec<f32>> {
    let scale_name = format!("{name}.scale");
    if weight.dtype() != Dtype::I8 {
        return Err(Error::Weights(format!(
            "{name} is {:?}, expected I8 (the metadata says format = {Q8_FORMAT})",
            weight.dtype()
        )));
    }
    if scale.dtype() != Dtype::F32 {
        return Err(Error::Weights(format!("{scale_name} is {:?}, expected F32", scale.dtype())));
    }
    let rows = weight.shape()[0];
    if scale.shape() != [rows] {
        return Err(Error::Weights(format!(
            "{scale_name} has shape {:?}, expected [{rows}] (one step per row of {name})",
            scale.shape()
        )));
    }
    let steps: Vec<f32> = scale.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if let Some(row) = steps.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
        return Err(Error::Weights(format!(
            "{scale_name} holds {} at row {row}; a step is finite and not negative",
            steps[row]
        )));
    }
    let columns = weight.shape()[1];
    let values: Vec<f32> = weight
        .data()
        .chunks_exact(columns)
        .zip(&steps)
        .flat_map(|(row, step)| row.iter().map(move |q| f32::from(*q as i8) * step))
        .collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::Weights(format!(
            "{scale_name}'s step {:e} at row {} takes {name} beyond f32's range",
            steps[i / columns],
            i / columns
        )));
    }
    Ok(values)
}

/// Bytes as lower-case hex digits.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn join(names: &[&String]) -> String {
    names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

fn describe(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall | E::InvalidHeaderLength => "header length is invalid or the file is truncated".into(),
        E::MetadataIncompleteBuffer => "the data does not match the header: truncated or padded".into(),
        E::InvalidHeader(_) | E::InvalidHeaderDeserialization(_) => "header is not valid JSON".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> VaeWeights {
        VaeWeights::init(VaeConfig::vae(8, 2, 0.5), 3).unwrap()
    }

    fn expect_err(bytes: &[u8], needle: &str) {
        match VaeWeights::from_safetensors(bytes) {
            Ok(_) => panic!("accepted a bad file; expected an error containing {needle:?}"),
            Err(e) => assert!(e.to_string().contains(needle), "error {e} does not contain {needle:?}"),
        }
    }

    /// The digest is the values': the same for every file that holds them, though the f32 file's
    /// bytes differ from one writing to the next (its metadata's order), and changed by any value
    /// or setting.
    #[test]
    fn the_digest_is_the_models_values_not_its_files_bytes() {
        let w = small();
        let digest = w.digest();
        let files: Vec<Vec<u8>> = (0..8).map(|_| w.to_safetensors().unwrap()).collect();
        assert!(files.iter().any(|f| f != &files[0]), "eight writings gave one metadata order: the premise is gone");
        for file in &files {
            assert_eq!(VaeWeights::from_safetensors(file).unwrap().digest(), digest);
        }
        // Values f16 holds exactly: its file gives the same model, so the same digest.
        let halved = VaeWeights::from_safetensors(&w.to_safetensors_f16().unwrap()).unwrap();
        for file in [halved.to_safetensors_f16().unwrap(), halved.to_safetensors().unwrap()] {
            assert_eq!(VaeWeights::from_safetensors(&file).unwrap().digest(), halved.digest());
        }
        assert_ne!(halved.digest(), digest, "rounded to f16, another model");
        let mut nudged = w.clone();
        nudged.layers[4].bias[0] = f32::from_bits(nudged.layers[4].bias[0].to_bits() + 1);
        let mut beta = w.clone();
        beta.config.beta = 0.25;
        assert_ne!(nudged.digest(), digest);
        assert_ne!(beta.digest(), digest);
        assert_eq!(w.digest_hex().len(), 64);
        assert_eq!(w.digest_hex(), digest.iter().map(|b| format!("{b:02x}")).collect::<String>());
    }

    /// Re-serialises `w` with one tensor replaced (or dropped with `None`), and extra tensors added.
    pub(super) fn tamper(w: &VaeWeights, name: &str, replacement: Option<(Vec<usize>, Vec<f32>)>) -> Vec<u8> {
        let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for ((layer, inputs, outputs), l) in w.config.layers().iter().zip(&w.layers) {
            owned.push((format!("{layer}.weight"), vec![*outputs, *inputs], f32_bytes(&l.weight)));
            owned.push((format!("{layer}.bias"), vec![*outputs], f32_bytes(&l.bias)));
        }
        owned.retain(|(n, _, _)| n != name);
        if let Some((shape, values)) = replacement {
            owned.push((name.to_string(), shape, f32_bytes(&values)));
        }
        let views: Vec<_> =
            owned.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
        safetensors::serialize(views, None).unwrap()
    }

    #[test]
    fn round_trip_is_exact_and_keeps_config() {
        let w = small();
        let bytes = w.to_safetensors().unwrap();
        let back = VaeWeights::from_safetensors(&bytes).unwrap();
        assert_eq!(back, w);
        assert_eq!(back.config.beta, 0.5);
    }

    #[test]
    fn half_precision_files_read_as_their_rounded_values() {
        let w = small();
        let rounded = |f: fn(f32) -> f32| {
            let mut r = w.clone();
            r.layers.iter_mut().for_each(|l| l.weight.iter_mut().chain(l.bias.iter_mut()).for_each(|v| *v = f(*v)));
            r
        };
        let f16_file = w.to_safetensors_f16().unwrap();
        assert!(f16_file.len() < w.to_safetensors().unwrap().len() * 6 / 10);
        assert_eq!(VaeWeights::from_safetensors(&f16_file).unwrap(), rounded(|v| f16::from_f32(v).to_f32()));
        // BF16, as PyTorch saves `model.bfloat16()`: no metadata, the shapes give the sizes.
        let views: Vec<(String, Vec<usize>, Vec<u8>)> = w
            .config
            .layers()
            .iter()
            .zip(&w.layers)
            .flat_map(|((name, inputs, outputs), l)| {
                let bf = |v: &[f32]| v.iter().flat_map(|x| bf16::from_f32(*x).to_le_bytes()).collect::<Vec<u8>>();
                [
                    (format!("{name}.weight"), vec![*outputs, *inputs], bf(&l.weight)),
                    (format!("{name}.bias"), vec![*outputs], bf(&l.bias)),
                ]
            })
            .collect();
        let bf16_file = safetensors::serialize(
            views.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::BF16, s.clone(), b).unwrap())),
            None,
        )
        .unwrap();
        let mut expected = rounded(|v| bf16::from_f32(v).to_f32());
        expected.config.beta = 1.0;
        assert_eq!(VaeWeights::from_safetensors(&bf16_file).unwrap(), expected);
        // Beyond f16's range: refused, not written as infinity.
        let mut huge = w.clone();
        huge.layers[1].bias[0] = 1e6;
        assert!(huge.to_safetensors_f16().unwrap_err().to_string().contains("beyond f16's range"));
    }

    #[test]
    fn init_is_seeded_and_within_pytorch_bounds() {
        let a = VaeWeights::init(VaeConfig::default(), 1).unwrap();
        assert_eq!(a, VaeWeights::init(VaeConfig::default(), 1).unwrap());
        assert_ne!(a, VaeWeights::init(VaeConfig::default(), 2).unwrap());
        let bound = 1.0 / (784f32).sqrt();
        assert!(a.layers[0].weight.iter().all(|v| v.abs() <= bound));
        assert_eq!(VaeConfig::default().num_params(), 652_824);
    }

    #[test]
    fn rejects_every_kind_of_bad_file() {
        let w = small();
        let good = w.to_safetensors().unwrap();
        expect_err(b"", "not a safetensors file");
        expect_err(b"PK\x03\x04 this is a zip", "not a safetensors file");
        expect_err(&good[..good.len() - 10], "not a safetensors file");
        let mut bad_json = good.clone();
        bad_json[8] = b'#';
        expect_err(&bad_json, "not a safetensors file");
        expect_err(&tamper(&w, "fc3.bias", None), "missing tensor(s) fc3.bias");
        expect_err(&tamper(&w, "extra", Some((vec![1], vec![0.0]))), "unexpected tensor(s) extra");
        expect_err(&tamper(&w, "fc4.bias", Some((vec![3], vec![0.0; 3]))), "fc4.bias has shape [3], expected [784]");
        expect_err(
            &tamper(&w, "fc3.weight", Some((vec![2, 8], vec![0.0; 16]))),
            "fc3.weight has shape [2, 8], expected [8, 2]",
        );
        expect_err(&tamper(&w, "fc1.weight", Some((vec![8, 100], vec![0.0; 800]))), "expected [hidden, 784]");
        expect_err(&tamper(&w, "fc1.bias", Some((vec![8, 1], vec![0.0; 8]))), "fc1.bias has shape [8, 1]");
        let mut nan = w.layers[2].weight.clone();
        nan[5] = f32::NAN;
        expect_err(
            &tamper(&w, "fc22.weight", Some((vec![2, 8], nan))),
            "fc22.weight holds a non-finite value (NaN) at index 5",
        );
        let mut inf = w.layers[4].bias.clone();
        inf[0] = f32::INFINITY;
        expect_err(&tamper(&w, "fc4.bias", Some((vec![784], inf))), "fc4.bias holds a non-finite value (inf)");
        expect_err(&vec![0u8; MAX_FILE_BYTES + 1], "a model file is at most");
        // A tensor of integers (same byte count as its f32s).
        let good = SafeTensors::deserialize(&good).unwrap();
        let ints = good.tensors().into_iter().map(|(name, view)| {
            let dtype = if name == "fc3.bias" { Dtype::I32 } else { Dtype::F32 };
            (name, TensorView::new(dtype, view.shape().to_vec(), view.data()).unwrap())
        });
        expect_err(&safetensors::serialize(ints, None).unwrap(), "fc3.bias is I32, expected F32, F16 or BF16");
    }

    #[test]
    fn rejects_metadata_that_disagrees_with_shapes() {
        let w = small();
        let mut lie = w.clone();
        lie.config.latent = 3; // the tensors still say 2
        let mut owned = Vec::new();
        for ((layer, inputs, outputs), l) in w.config.layers().iter().zip(&w.layers) {
            owned.push((format!("{layer}.weight"), vec![*outputs, *inputs], f32_bytes(&l.weight)));
            owned.push((format!("{layer}.bias"), vec![*outputs], f32_bytes(&l.bias)));
        }
        let views: Vec<_> =
            owned.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
        let meta = HashMap::from([("latent".to_string(), "3".to_string())]);
        let bytes = safetensors::serialize(views, Some(meta)).unwrap();
        expect_err(&bytes, "metadata says latent = 3 but the tensors' shapes say 2");
    }

    #[test]
    fn the_conditional_kind_round_trips_with_and_without_metadata() {
        let w = VaeWeights::init(VaeConfig::cvae(8, 2, 0.5), 4).unwrap();
        assert_eq!(w.layers[0].weight.len(), 8 * (784 + 10));
        assert_eq!(w.layers[3].weight.len(), 8 * (2 + 10));
        assert_eq!(VaeWeights::from_safetensors(&w.to_safetensors().unwrap()).unwrap(), w);
        let f16 = VaeWeights::from_safetensors(&w.to_safetensors_f16().unwrap()).unwrap();
        assert_eq!(f16.config, w.config);
        // As PyTorch saves it: no metadata; fc1's width says the kind.
        let back = VaeWeights::from_safetensors(&tamper(&w, "none", None)).unwrap();
        assert_eq!(back.config, VaeConfig::cvae(8, 2, 1.0));
        assert_eq!(back.layers, w.layers);
        // The seed's model says it is one too, and metadata that contradicts the shapes is refused.
        let seed = small();
        let meta = safetensors::SafeTensors::read_metadata(&seed.to_safetensors().unwrap()).unwrap().1;
        assert_eq!(meta.metadata().as_ref().unwrap()["kind"], "vae");
        let mut lie = w.to_safetensors().unwrap();
        let at = lie.windows(6).position(|b| b == b"\"cvae\"").unwrap();
        lie.splice(at..at + 6, *b"\"vae\" ");
        expect_err(&lie, "metadata says kind = vae but fc1.weight's shape [8, 794] is the cvae's");
    }

    #[test]
    fn a_bad_conditional_file_is_refused_saying_which_shape_is_wrong() {
        let w = VaeWeights::init(VaeConfig::cvae(8, 2, 1.0), 4).unwrap();
        // fc1 neither 784 nor 794 wide.
        expect_err(
            &tamper(&w, "fc1.weight", Some((vec![8, 800], vec![0.0; 6400]))),
            "fc1.weight has shape [8, 800], expected [hidden, 784] (the VAE) or [hidden, 794]",
        );
        // Five labels instead of ten.
        expect_err(
            &tamper(&w, "fc1.weight", Some((vec![8, 789], vec![0.0; 8 * 789]))),
            "its 5 inputs beyond the pixels would be 5 labels, not 10",
        );
        // fc3 without the labels (a conditional encoder with an unconditional decoder).
        expect_err(
            &tamper(&w, "fc3.weight", Some((vec![8, 2], vec![0.0; 16]))),
            "fc3.weight has shape [8, 2], expected [8, 12] (latent 2 and 10 labels in)",
        );
        // A seed model's fc3 fed labels it never reads.
        expect_err(
            &tamper(&small(), "fc3.weight", Some((vec![8, 12], vec![0.0; 96]))),
            "fc3.weight has shape [8, 12], expected [8, 2]",
        );
    }

    #[test]
    fn reads_a_file_without_metadata_as_pytorch_writes_it() {
        let w = small();
        let bytes = tamper(&w, "none", None);
        let back = VaeWeights::from_safetensors(&bytes).unwrap();
        assert_eq!(back.layers, w.layers);
        assert_eq!(back.config, VaeConfig { beta: 1.0, ..w.config });
    }

    /// `file` written again with tensor `name` replaced by (dtype, shape, bytes), or dropped with
    /// `None`, its metadata kept.
    fn retensor(file: &[u8], name: &str, replacement: Option<(Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
        let metadata = SafeTensors::read_metadata(file).unwrap().1.metadata().clone();
        let tensors = SafeTensors::deserialize(file).unwrap();
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
            .tensors()
            .into_iter()
            .filter(|(n, _)| n != name)
            .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        owned.extend(replacement.map(|(dtype, shape, bytes)| (name.to_string(), dtype, shape, bytes)));
        let views = owned.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()));
        safetensors::serialize(views, metadata).unwrap()
    }

    #[test]
    fn the_q8_copy_reads_as_each_weight_within_half_its_tensors_step() {
        // Each layer's steps as the file holds them.
        let steps = |file: &[u8]| -> Vec<Vec<f32>> {
            let tensors = SafeTensors::deserialize(file).unwrap();
            ["fc1", "fc21", "fc22", "fc3", "fc4"]
                .iter()
                .map(|l| {
                    let scale = tensors.tensor(&format!("{l}.weight.scale")).unwrap();
                    scale.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
                })
                .collect()
        };
        for w in [small(), VaeWeights::init(VaeConfig::cvae(8, 2, 0.5), 4).unwrap()] {
            let file = w.to_safetensors_q8().unwrap();
            // A quarter of the f32 weights' bytes, plus f32 biases and a step per row (784 of them in
            // fc4: a larger share of a model this small than of the default's 665 432 bytes).
            assert!(file.len() < w.to_safetensors().unwrap().len() * 4 / 10, "{} bytes", file.len());
            let (_, header) = SafeTensors::read_metadata(&file).unwrap();
            assert_eq!(header.metadata().as_ref().unwrap()["format"], "q8");
            let tensors = SafeTensors::deserialize(&file).unwrap();
            let back = VaeWeights::from_safetensors(&file).unwrap();
            assert_eq!(back.config, w.config);
            let layers = w.config.layers();
            for (((name, inputs, outputs), steps), (layer, read)) in
                layers.iter().zip(steps(&file)).zip(w.layers.iter().zip(&back.layers))
            {
                assert_eq!(read.bias, layer.bias, "{name}.bias is kept in f32");
                let q = tensors.tensor(&format!("{name}.weight")).unwrap();
                assert_eq!((q.dtype(), q.shape()), (Dtype::I8, &[*outputs, *inputs][..]));
                assert_eq!(steps.len(), *outputs);
                // One step for the whole tensor: its largest magnitude over 127, rounded up to an f32.
                let step = steps[0];
                assert!(steps.iter().all(|s| *s == step), "{name}: {steps:?}");
                let exact = layer.weight.iter().fold(0f64, |m, v| m.max(v.abs() as f64)) / 127.0;
                assert!(step as f64 >= exact && (step as f64) < exact * (1.0 + f32::EPSILON as f64), "{name}");
                for (i, (v, r)) in layer.weight.iter().zip(&read.weight).enumerate() {
                    let q = (*v as f64 / step as f64).round();
                    assert!((-127.0..=127.0).contains(&q));
                    assert_eq!(*r, q as f32 * step, "{name}.weight[{i}] is a whole number of steps");
                    assert!((v - r).abs() <= step * 0.5001, "{name}.weight[{i}]: {v} read as {r}, step {step}");
                }
            }
        }
        // Zeros (a step of 0), values at the edges of f32's range and subnormal ones: finite, each
        // within half its step.
        let mut edges = small();
        edges.layers[0].weight.iter_mut().for_each(|v| *v = 0.0);
        edges.layers[1].weight[0] = f32::MAX;
        edges.layers[2].weight[3] = -f32::MAX;
        edges.layers[3].weight.iter_mut().for_each(|v| *v = 1e-45);
        edges.layers[3].weight[0] = 3e-43;
        let file = edges.to_safetensors_q8().unwrap();
        let back = VaeWeights::from_safetensors(&file).unwrap();
        assert_eq!(steps(&file)[0], [0.0; 8]);
        for ((layer, read), steps) in edges.layers.iter().zip(&back.layers).zip(steps(&file)) {
            for (v, r) in layer.weight.iter().zip(&read.weight) {
                assert!(r.is_finite() && (*v as f64 - *r as f64).abs() <= steps[0] as f64 / 2.0, "{v} read as {r}");
            }
        }
        assert!(back.layers[1].weight[1..].iter().all(|v| *v == 0.0), "values far below the step are 0");
    }

    /// The committed models (`scripts/train-default.sh`) written as q8 and read back score the test
    /// set (z = μ, as `vae eval`'s `loss_mu`) within 0.1 nats of themselves in f32, on both backends.
    #[test]
    fn the_committed_models_in_q8_score_the_test_set_within_a_tenth_of_a_nat_on_both_backends() {
        use crate::test_util::{backends, block_on, dataset};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/model");
        let data = dataset();
        let test = data.indices(crate::Split::Test);
        for file in ["default.safetensors", "conditional.safetensors"] {
            let full = VaeWeights::load(&root.join(file)).unwrap();
            let q8 = VaeWeights::from_safetensors(&full.to_safetensors_q8().unwrap()).unwrap();
            assert_ne!(q8, full);
            for device in backends() {
                let loss_mu = |w: &VaeWeights| {
                    let model = crate::Inference::new(w, &device).unwrap();
                    block_on(model.evaluate(&data, &test, &mut Rng::new(0))).unwrap().loss_mu
                };
                let (f32_loss, q8_loss) = (loss_mu(&full), loss_mu(&q8));
                eprintln!("{file} on {device:?}: test loss (z = μ) {f32_loss:.4} in f32, {q8_loss:.4} in q8");
                assert!(
                    (f32_loss - q8_loss).abs() < 0.1,
                    "{file}: q8 moved the test loss from {f32_loss} to {q8_loss}"
                );
            }
        }
    }

    #[test]
    fn a_broken_q8_file_is_refused_naming_the_tensor() {
        let w = small();
        let good = w.to_safetensors_q8().unwrap();
        let scale = |values: &[f32]| Some((Dtype::F32, vec![values.len()], f32_bytes(values)));
        let mut steps = vec![0.01f32; 8];
        expect_err(&good[..good.len() - 100], "not a safetensors file (the data does not match the header");
        expect_err(&retensor(&good, "fc3.weight.scale", None), "missing tensor(s) fc3.weight.scale");
        expect_err(
            &retensor(&good, "fc1.weight.scale", scale(&[0.01; 7])),
            "fc1.weight.scale has shape [7], expected [8] (one step per row of fc1.weight)",
        );
        expect_err(
            &retensor(&good, "fc1.weight.scale", Some((Dtype::F32, vec![8, 1], f32_bytes(&steps)))),
            "fc1.weight.scale has shape [8, 1], expected [8]",
        );
        for (bad, shown) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (f32::NEG_INFINITY, "-inf"), (-0.5, "-0.5")] {
            steps[5] = bad;
            expect_err(
                &retensor(&good, "fc1.weight.scale", scale(&steps)),
                &format!("fc1.weight.scale holds {shown} at row 5; a step is finite and not negative"),
            );
        }
        steps[5] = 1e38;
        expect_err(
            &retensor(&good, "fc1.weight.scale", scale(&steps)),
            "fc1.weight.scale's step 1e38 at row 5 takes fc1.weight beyond f32's range",
        );
        let f16_steps = [0.01f32; 2].iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect();
        expect_err(
            &retensor(&good, "fc21.weight.scale", Some((Dtype::F16, vec![2], f16_steps))),
            "fc21.weight.scale is F16, expected F32",
        );
        // A weight in floats where the metadata says q8; a weight's shape, checked as in any file.
        let floats = w.layers[4].weight.clone();
        expect_err(
            &retensor(&good, "fc4.weight", Some((Dtype::F32, vec![784, 8], f32_bytes(&floats)))),
            "fc4.weight is F32, expected I8 (the metadata says format = q8)",
        );
        expect_err(
            &retensor(&good, "fc4.weight", Some((Dtype::I8, vec![8, 784], vec![0; 8 * 784]))),
            "fc4.weight has shape [8, 784], expected [784, 8]",
        );
        // Scales or 8-bit weights in a file that does not say it is q8.
        let plain = w.to_safetensors().unwrap();
        expect_err(
            &retensor(&plain, "fc1.weight.scale", scale(&[0.01; 8])),
            "unexpected tensor(s) fc1.weight.scale (scales belong to an 8-bit file, whose metadata says format = q8)",
        );
        expect_err(
            &retensor(&plain, "fc3.weight", Some((Dtype::I8, vec![8, 2], vec![1; 16]))),
            "fc3.weight is I8, expected F32, F16 or BF16 (8-bit weights need their scales",
        );
        // The good file reads, and its bytes were not the reason for any refusal above.
        assert!(VaeWeights::from_safetensors(&retensor(&good, "none", None)).is_ok());
    }
}

/// Weights written then read, over any finite values and any configuration in range.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::tests::tamper;
    use super::*;
    use crate::rng::Rng;
    use crate::test_util::proptest_config;

    /// Every value's bits, and β's: "identical" means bit for bit (−0 is not 0, and every NaN
    /// payload would count, though none is allowed in).
    fn bits(w: &VaeWeights) -> (ModelKind, usize, usize, u64, Vec<u32>) {
        let values = w.layers.iter().flat_map(|l| l.weight.iter().chain(&l.bias)).map(|v| v.to_bits()).collect();
        (w.config.kind, w.config.hidden, w.config.latent, w.config.beta.to_bits(), values)
    }

    /// Any finite f32 drawn by bits (so subnormals, ±0 and ±3.4e38 come up), or a trained-like
    /// value, or one of the edges.
    fn value(rng: &mut Rng, kind: u8) -> f32 {
        match kind {
            0 => (rng.normal() * 0.1) as f32,
            1 => loop {
                let v = f32::from_bits(rng.next_u64() as u32);
                if v.is_finite() {
                    break v;
                }
            },
            _ => {
                let edges =
                    [0.0, -0.0, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-45, -1e-45, f32::MAX, f32::MIN, f32::EPSILON];
                edges[rng.below(edges.len())]
            }
        }
    }

    /// Any configuration within the limits, of either kind (small, for speed; β anywhere in 0..=100, its edges,
    /// −0 and the smallest subnormal included) and any finite values.
    fn weights() -> impl Strategy<Value = VaeWeights> {
        let beta = prop_oneof![0.0f64..=100.0, Just(0.0), Just(-0.0), Just(100.0), Just(5e-324), Just(0.1)];
        let model = prop_oneof![Just(ModelKind::Vae), Just(ModelKind::Cvae)];
        (1usize..=12, 1usize..=4, beta, any::<u64>(), 0u8..3, model).prop_map(
            |(hidden, latent, beta, seed, kind, model)| {
                let config = VaeConfig { hidden, latent, beta, kind: model };
                let mut rng = Rng::new(seed);
                let layers = config.layers().map(|(_, inputs, outputs)| LayerWeights {
                    weight: (0..inputs * outputs).map(|_| value(&mut rng, kind)).collect(),
                    bias: (0..outputs).map(|_| value(&mut rng, kind)).collect(),
                });
                VaeWeights { config, layers }
            },
        )
    }

    proptest! {
        #![proptest_config(proptest_config(64))]

        /// Written then read: identical, every bit of every value and of β, whatever they are.
        #[test]
        fn written_then_read_is_identical(w in weights()) {
            let back = VaeWeights::from_safetensors(&w.to_safetensors().unwrap()).unwrap();
            prop_assert_eq!(bits(&back), bits(&w));
        }

        /// As PyTorch writes them (no metadata): the same values; the shapes give the sizes, β is 1.
        #[test]
        fn written_without_metadata_the_values_and_sizes_survive(w in weights()) {
            let back = VaeWeights::from_safetensors(&tamper(&w, "none", None)).unwrap();
            let expected = VaeWeights { config: VaeConfig { beta: 1.0, ..w.config }, ..w.clone() };
            prop_assert_eq!(bits(&back), bits(&expected));
        }

        /// Written as f16: read back as each value rounded to f16 (bit for bit), or refused when
        /// a value is beyond f16's range.
        #[test]
        fn written_as_f16_then_read_is_each_value_rounded(w in weights()) {
            let fits = w.layers.iter().flat_map(|l| l.weight.iter().chain(&l.bias)).all(|v| v.abs() <= f16::MAX.to_f32());
            match w.to_safetensors_f16() {
                Ok(bytes) => {
                    prop_assert!(fits);
                    let mut rounded = w.clone();
                    rounded.layers.iter_mut().for_each(|l| {
                        l.weight.iter_mut().chain(l.bias.iter_mut()).for_each(|v| *v = f16::from_f32(*v).to_f32())
                    });
                    prop_assert_eq!(bits(&VaeWeights::from_safetensors(&bytes).unwrap()), bits(&rounded));
                }
                Err(e) => prop_assert!(!fits && e.to_string().contains("beyond f16's range"), "{}", e),
            }
        }

        /// Written as q8: each weight read back within half its tensor's step (its largest magnitude
        /// over 127, rounded up to an f32) plus the f32 product's rounding, whatever the values;
        /// biases, sizes and β bit for bit.
        #[test]
        fn written_as_q8_then_read_is_each_weight_within_half_a_step(w in weights()) {
            let back = VaeWeights::from_safetensors(&w.to_safetensors_q8().unwrap()).unwrap();
            let biases = |w: &VaeWeights| VaeWeights {
                layers: w.layers.clone().map(|l| LayerWeights { weight: vec![], ..l }),
                ..w.clone()
            };
            prop_assert_eq!(bits(&biases(&back)), bits(&biases(&w)));
            for (layer, read) in w.layers.iter().zip(&back.layers) {
                let step = layer.weight.iter().fold(0f64, |m, v| m.max(v.abs() as f64)) / 127.0;
                for (v, r) in layer.weight.iter().zip(&read.weight) {
                    let (v, r) = (*v as f64, *r as f64);
                    let bound = 0.5 * (step * (1.0 + 2f64.powi(-22)) + 2f64.powi(-149))
                        + 2f64.powi(-24) * (v.abs() + step) + 2f64.powi(-150);
                    prop_assert!((r - v).abs() <= bound, "{} read as {}, step {}", v, r, step);
                }
            }
        }
    }
}
