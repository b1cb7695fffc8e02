//! A training run as bytes, to be resumed exactly (the page stores one on Pause, at every epoch's
//! end and while it trains, so that a reload goes on with the same run).
//!
//! The format is a safetensors file (version 1):
//! - tensors, all F32 little-endian in PyTorch's layout: `weights.{fc1,fc21,fc22,fc3,fc4}.{weight,bias}`
//!   (the trainer's weights), `adam.first.…` and `adam.second.…` (Adam's moments, absent before
//!   the first step), and `order` (U64: this epoch's order of the training digits);
//! - metadata, every value a decimal string (f64 written by Rust's shortest round-trip form, so
//!   they read back exactly): `format` = `latent-sketchpad-run`, `version` = `1`, `hidden`,
//!   `latent`, `beta`, `kind` (`vae` or `cvae`; absent means `vae`), `learning_rate`, `batch_size`, `seed`, `epochs` (the run's target), `epoch`,
//!   `step`, `cursor`, `adam_time`, `rng` and `eval_rng` (4 comma-separated u64 each),
//!   `totals_n`, `totals_recon`, `totals_kl` (the epoch's loss totals) and `checkpoint` (what the
//!   page's model is: "the end of epoch 2", for messages);
//! - for a run that mixes extra digits into its batches ([`crate::model::mixing`]): the tensors
//!   `mixing.pixels` (U8 `[n, 784]`), `mixing.labels` (U8 `[n]`) and `mixing.order` (U64 `[n]`),
//!   and the metadata `mixing_share` and `mixing_cursor`; a run without them mixes nothing.
//!
//! Reading checks everything and says what is wrong; it never panics on any input.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::config::ModelKind;
use crate::limits::LIMITS;
use crate::model::loss::LossTotals;
use crate::model::mixing::MixingState;
use crate::model::train::{AdamMoments, TrainerOptions, TrainerState};
use crate::model::weights::LayerWeights;
use crate::{Error, IMAGE_PIXELS, Result, VaeConfig, VaeWeights};

const FORMAT: &str = "latent-sketchpad-run";
const VERSION: &str = "1";
/// The weights and two sets of moments of the largest model a page may hold, the order, and the
/// most digits a person may keep mixed in (each its pixels, label and place in their order).
pub const MAX_SNAPSHOT_BYTES: usize =
    3 * LIMITS.max_model_bytes + (1 << 20) + LIMITS.max_your_digits * (crate::IMAGE_PIXELS + 1 + 8);

/// A training run: the trainer's state, its target and what the page's model is meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSnapshot {
    pub trainer: TrainerState,
    /// Epochs the run is to train in all.
    pub epochs: usize,
    /// What the page's model (the run's checkpoint) is: "the end of epoch N", "before training".
    pub checkpoint: String,
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Input(format!("not a training run this page can resume: {what}"))
}

/// The tensor `name`, a list of U64 indices.
fn indices(tensors: &SafeTensors, name: &str) -> Result<Vec<usize>> {
    let view = tensors.tensor(name).map_err(|_| bad(format!("tensor {name} is missing")))?;
    if view.dtype() != Dtype::U64 || view.shape().len() != 1 {
        return Err(bad(format!("the tensor {name} is not a list of U64")));
    }
    view.data()
        .chunks_exact(8)
        .map(|b| usize::try_from(u64::from_le_bytes(b.try_into().expect("8 bytes"))))
        .collect::<Result<_, _>>()
        .map_err(|_| bad(format!("the {name} holds an index out of range")))
}

impl RunSnapshot {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let t = &self.trainer;
        let config = t.weights.config;
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut add_layers = |prefix: &str, layers: &[LayerWeights; 5]| {
            for ((name, inputs, outputs), layer) in config.layers().iter().zip(layers) {
                owned.push((
                    format!("{prefix}.{name}.weight"),
                    Dtype::F32,
                    vec![*outputs, *inputs],
                    f32_bytes(&layer.weight),
                ));
                owned.push((format!("{prefix}.{name}.bias"), Dtype::F32, vec![*outputs], f32_bytes(&layer.bias)));
            }
        };
        add_layers("weights", &t.weights.layers);
        if let Some(m) = &t.moments {
            add_layers("adam.first", &m.first);
            add_layers("adam.second", &m.second);
        }
        let order: Vec<u8> = t.order.iter().flat_map(|&i| (i as u64).to_le_bytes()).collect();
        owned.push(("order".into(), Dtype::U64, vec![t.order.len()], order));
        if let Some(m) = &t.mixing {
            owned.push(("mixing.pixels".into(), Dtype::U8, vec![m.len(), IMAGE_PIXELS], m.pixels.clone()));
            owned.push(("mixing.labels".into(), Dtype::U8, vec![m.len()], m.labels.clone()));
            let order = m.order.iter().flat_map(|&i| (i as u64).to_le_bytes()).collect();
            owned.push(("mixing.order".into(), Dtype::U64, vec![m.order.len()], order));
        }
        let views = owned
            .iter()
            .map(|(name, dtype, shape, bytes)| TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.clone(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Input(format!("the training run could not be written: {e}")))?;
        let list = |s: [u64; 4]| s.map(|v| v.to_string()).join(",");
        let metadata: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("hidden", config.hidden.to_string()),
            ("latent", config.latent.to_string()),
            ("beta", config.beta.to_string()),
            ("kind", config.kind.name().to_string()),
            ("learning_rate", t.options.learning_rate.to_string()),
            ("batch_size", t.options.batch_size.to_string()),
            ("seed", t.options.seed.to_string()),
            ("epochs", self.epochs.to_string()),
            ("epoch", t.epoch.to_string()),
            ("step", t.step.to_string()),
            ("cursor", t.cursor.to_string()),
            ("adam_time", t.moments.as_ref().map_or(0, |m| m.time).to_string()),
            ("rng", list(t.rng)),
            ("eval_rng", list(t.eval_rng)),
            ("totals_n", t.epoch_totals.n.to_string()),
            ("totals_recon", t.epoch_totals.recon.to_string()),
            ("totals_kl", t.epoch_totals.kl.to_string()),
            ("checkpoint", self.checkpoint.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(t.mixing.iter().flat_map(|m| {
            [("mixing_share".to_string(), m.share.to_string()), ("mixing_cursor".to_string(), m.cursor.to_string())]
        }))
        .collect();
        safetensors::serialize(views, Some(metadata))
            .map_err(|e| Error::Input(format!("the training run could not be written: {e}")))
    }

    /// Reads a snapshot back. Only its own consistency is checked here (names, shapes, values,
    /// numbers in range); [`crate::Trainer::resume`] checks it against the data set.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(bad(format!("{} bytes; a run is at most {MAX_SNAPSHOT_BYTES} bytes", bytes.len())));
        }
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let text =
            |key: &str| meta.get(key).map(String::as_str).ok_or_else(|| bad(format!("metadata {key} is missing")));
        if text("format")? != FORMAT {
            return Err(bad(format!("its format is {:?}", text("format")?)));
        }
        if text("version")? != VERSION {
            return Err(bad(format!("version {:?}; this page reads version {VERSION}", text("version")?)));
        }
        fn number<T: std::str::FromStr>(meta: &HashMap<String, String>, key: &str) -> Result<T> {
            let v = meta.get(key).ok_or_else(|| bad(format!("metadata {key} is missing")))?;
            v.parse().map_err(|_| bad(format!("metadata {key} = {v:?} is not a number of the right kind")))
        }
        let state = |key: &str| -> Result<[u64; 4]> {
            let parts: Vec<u64> = text(key)?
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| bad(format!("metadata {key} is damaged")))?;
            parts.try_into().map_err(|_| bad(format!("metadata {key} is not 4 numbers")))
        };
        let config = VaeConfig {
            hidden: number(&meta, "hidden")?,
            latent: number(&meta, "latent")?,
            beta: number(&meta, "beta")?,
            // Runs stored before the conditional model existed are the seed's model's.
            kind: meta.get("kind").map(|k| ModelKind::parse(k)).transpose().map_err(bad)?.unwrap_or_default(),
        };
        config.validate().map_err(bad)?;
        let options = TrainerOptions {
            learning_rate: number(&meta, "learning_rate")?,
            batch_size: number(&meta, "batch_size")?,
            seed: number(&meta, "seed")?,
        };
        options.validate().map_err(bad)?;
        let epochs: usize = number(&meta, "epochs")?;
        LIMITS.epochs.check("epochs", epochs).map_err(bad)?;
        let epoch: usize = number(&meta, "epoch")?;
        if epoch >= epochs {
            return Err(bad(format!("it is at epoch {epoch} of {epochs}: the run is over")));
        }

        let mut expected: Vec<String> = vec!["order".into()];
        let read_layers = |prefix: &str, expected: &mut Vec<String>| -> Result<[LayerWeights; 5]> {
            let mut layers = Vec::with_capacity(5);
            for (name, inputs, outputs) in config.layers() {
                let mut read = |part: &str, shape: Vec<usize>| -> Result<Vec<f32>> {
                    let key = format!("{prefix}.{name}.{part}");
                    let view = tensors.tensor(&key).map_err(|_| bad(format!("tensor {key} is missing")))?;
                    if view.dtype() != Dtype::F32 || view.shape() != shape {
                        return Err(bad(format!(
                            "{key} is {:?} {:?}, expected F32 {shape:?}",
                            view.dtype(),
                            view.shape()
                        )));
                    }
                    expected.push(key);
                    Ok(view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
                };
                let weight = read("weight", vec![outputs, inputs])?;
                let bias = read("bias", vec![outputs])?;
                layers.push(LayerWeights { weight, bias });
            }
            Ok(layers.try_into().expect("five layers"))
        };
        let layers = read_layers("weights", &mut expected)?;
        let weights = VaeWeights { config, layers };
        weights.validate().map_err(bad)?;
        let adam_time: u64 = number(&meta, "adam_time")?;
        let moments = if adam_time == 0 {
            None
        } else {
            let first = read_layers("adam.first", &mut expected)?;
            let second = read_layers("adam.second", &mut expected)?;
            Some(AdamMoments { time: adam_time, first, second })
        };
        let mixing = if meta.contains_key("mixing_share") {
            expected.extend(["mixing.pixels", "mixing.labels", "mixing.order"].map(String::from));
            let bytes = |name: &str, dims: usize| -> Result<&[u8]> {
                let view = tensors.tensor(name).map_err(|_| bad(format!("tensor {name} is missing")))?;
                if view.dtype() != Dtype::U8 || view.shape().len() != dims {
                    return Err(bad(format!(
                        "{name} is {:?} {:?}, expected U8 of {dims} dimension(s)",
                        view.dtype(),
                        view.shape()
                    )));
                }
                Ok(view.data())
            };
            let mixing = MixingState {
                share: number(&meta, "mixing_share")?,
                pixels: bytes("mixing.pixels", 2)?.to_vec(),
                labels: bytes("mixing.labels", 1)?.to_vec(),
                order: indices(&tensors, "mixing.order")?,
                cursor: number(&meta, "mixing_cursor")?,
            };
            mixing.validate().map_err(bad)?;
            Some(mixing)
        } else {
            None
        };
        let mut names: Vec<&str> = tensors.names().into_iter().collect();
        names.retain(|n| !expected.iter().any(|e| e == n));
        if !names.is_empty() {
            names.sort_unstable();
            return Err(bad(format!("unexpected tensor(s) {}", names.join(", "))));
        }
        let order = indices(&tensors, "order")?;
        let trainer = TrainerState {
            weights,
            moments,
            options,
            rng: state("rng")?,
            eval_rng: state("eval_rng")?,
            order,
            cursor: number(&meta, "cursor")?,
            epoch,
            step: number(&meta, "step")?,
            epoch_totals: LossTotals {
                n: number(&meta, "totals_n")?,
                recon: number(&meta, "totals_recon")?,
                kl: number(&meta, "totals_kl")?,
            },
            mixing,
        };
        Ok(Self { trainer, epochs, checkpoint: text("checkpoint")?.to_string() })
    }
}
