//! `vae`: the Latent Sketchpad VAE on the command line, over the same core as the page.

mod image;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use vae::model::inference::EvalReport;
use vae::rng::Rng;
use vae::{
    CLASSES, Dataset, Device, IMAGE_PIXELS, Inference, ModelKind, Split, Trainer, TrainerOptions, VaeConfig, VaeWeights,
};

const DEFAULT_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/model/default.safetensors");
/// The default model as the page loads it (`vae convert --q8`), whose t-SNE map the page shows first.
const DEFAULT_PAGE_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/model/default-q8.safetensors");
const DEFAULT_CVAE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/model/conditional.safetensors");
const DEFAULT_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/data/mnist.bin");

#[derive(Parser)]
#[command(name = "vae", version, about = "Train, evaluate, sample and score Latent Sketchpad's VAE")]
struct Cli {
    /// Where the tensors live.
    #[arg(long, value_enum, default_value_t = Backend::Ndarray, global = true)]
    backend: Backend,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// burn-ndarray on the CPU.
    Ndarray,
    /// Burn's wgpu backend (Vulkan, Metal or DX12; Mesa's lavapipe runs it on a CPU).
    Wgpu,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum MapMethod {
    /// The first two principal components (linear; a point of the map decodes).
    Pca,
    /// t-SNE of the latents (neighbourhoods kept; no decodable coordinates).
    Tsne,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Kind {
    /// The seed's VAE.
    Vae,
    /// The label-conditioned VAE: reads digits, redraws them as any digit, samples a chosen one.
    Cvae,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model and save it as safetensors; prints one line per epoch.
    Train {
        #[arg(long, value_enum, default_value_t = Kind::Vae)]
        kind: Kind,
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        #[arg(long, default_value_t = 20)]
        latent: usize,
        #[arg(long, default_value_t = 400)]
        hidden: usize,
        #[arg(long, default_value_t = 1.0)]
        beta: f64,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Seeds the initial weights, the shuffling and ε.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A data file (www/data/mnist.bin) or an IDX prefix such as `data/train`.
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Test loss, its parts, the loss with z = μ and optionally the IWAE bound; for a conditional
    /// model also its reading, redraws, slant and samples, judged by a 5-NN on the training pixels.
    Eval {
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: PathBuf,
        /// Without it, the test split of the default data; an IDX set is evaluated whole.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Samples per image for the importance-weighted NLL bound (and, for a conditional model,
        /// the IWAE reading).
        #[arg(long)]
        iw: Option<usize>,
        /// A conditional model's prior samples per digit, judged.
        #[arg(long, default_value_t = 100)]
        samples: usize,
        /// A seed model whose latent neighbours read the digits beside the conditional model.
        #[arg(long)]
        seed_model: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Decode digits drawn from N(0, T² I) into a PNG grid (8 per row).
    Sample {
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: PathBuf,
        #[arg(long, default_value_t = 64)]
        n: usize,
        #[arg(long, default_value_t = 1.0)]
        temperature: f64,
        /// The digit to draw (a conditional model only; it needs one).
        #[arg(long)]
        digit: Option<u8>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Rewrite a model file (checked on the way), as f32 or, with --f16, in half the bytes (each
    /// value rounded to f16; the page fetches its default model so and computes in f32), or with
    /// --q8 in a quarter (8-bit weights, each within half a step of its value, read back as f32).
    Convert {
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        f16: bool,
        /// 8-bit weights (I8) with one f32 step per row, biases f32: for transfer only.
        #[arg(long, conflicts_with = "f16")]
        q8: bool,
    },
    /// Preprocess a drawing (MNIST-style) and write [input | reconstruction] as a PNG.
    Reconstruct {
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: PathBuf,
        #[arg(long)]
        image: PathBuf,
        /// A conditional model reconstructs as this digit (by default the digit it reads).
        #[arg(long)]
        digit: Option<u8>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Each image's loss (negative ELBO with z = μ), in nats; for a conditional model the bound
    /// with the digit unknown, −log Σ_y ⅒ exp(−loss_y).
    Score {
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: PathBuf,
        /// An IDX images file (or prefix): unsigned bytes (MNIST's) or 32-bit floats in [0, 1]
        /// (type 0x0D: any grey level exactly, e.g. a sketch as the page preprocessed it).
        #[arg(long)]
        images: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The data set on a 2-D map of latent space as a PNG scatter coloured by digit: PCA (the
    /// page's map) or t-SNE of the digits' μ. Prints how often a digit's 10 nearest neighbours on
    /// the map are the same digit. With --page-file, the page's t-SNE map of the model, written as
    /// the file the page shows first for its default model.
    Map {
        /// By default www/model/default.safetensors; with --page-file, default-q8.safetensors, the
        /// model the page loads.
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, default_value = DEFAULT_DATA)]
        data: PathBuf,
        /// PCA, or t-SNE (the only one with --page-file).
        #[arg(long, value_enum)]
        method: Option<MapMethod>,
        /// t-SNE's gradient iterations.
        #[arg(long, default_value_t = vae::explore::tsne::TsneOptions::default().iterations, conflicts_with = "page_file")]
        iterations: usize,
        /// Map N digits spread over the data set (all by default).
        #[arg(long, conflicts_with = "page_file")]
        digits: Option<usize>,
        /// The scatter as a PNG.
        #[arg(long, required_unless_present = "page_file")]
        out: Option<PathBuf>,
        /// Make the t-SNE map as the page makes it, through the core's session (the whole data
        /// set's neighbour index, then the page's t-SNE in its steps), and write it as the page's
        /// map file (www/model/default-tsne.bin, by scripts/train-default.sh). The figures
        /// printed are the file's.
        #[arg(long)]
        page_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Each image's μ (a conditional model's given the digit it reads, or --digit).
    Encode {
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: PathBuf,
        /// As for `score`.
        #[arg(long)]
        images: PathBuf,
        #[arg(long)]
        digit: Option<u8>,
        #[arg(long)]
        json: bool,
    },
    /// A conditional model's reading of each image: the digit whose loss is lowest and the
    /// softmax of the ten labels' negative losses (the confidence).
    Read {
        #[arg(long, default_value = DEFAULT_CVAE)]
        model: PathBuf,
        /// As for `score`.
        #[arg(long)]
        images: PathBuf,
        /// Read by each label's IWAE bound with K samples instead of the ELBO at z = μ.
        #[arg(long)]
        iw: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
    /// Each image redrawn as every digit 0–9 in the same hand (a conditional model): a PNG with one
    /// row per image, [input | as 0 … as 9].
    Restyle {
        #[arg(long, default_value = DEFAULT_CVAE)]
        model: PathBuf,
        /// As for `score`, or a drawing (PNG) preprocessed as `reconstruct` does.
        #[arg(long)]
        images: PathBuf,
        /// Only these images of the file (0-based indices, comma-separated).
        #[arg(long, value_delimiter = ',')]
        pick: Vec<usize>,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print as usual; a usage error is one line like every other error.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // Its first paragraph, in one line: a missing argument is named on the line after.
            let rendered = e.render().to_string();
            let said: Vec<&str> = rendered.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
            let said = if said.is_empty() { "error: bad arguments".to_string() } else { said.join(" ") };
            eprintln!("{said} (see vae --help)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

#[allow(deprecated)] // burn-ndarray is the CPU backend the design names
fn device(backend: Backend) -> Result<Device, String> {
    match backend {
        Backend::Ndarray => Ok(Device::ndarray()),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => pollster::block_on(vae::gpu::start())
            .map(|(device, _matmul)| device)
            .map_err(|e| format!("the wgpu backend did not start: {e}")),
        // The test command builds the CLI without Burn's GPU backend (a whole build of CubeCL and
        // wgpu it cannot afford); a CLI built so says what it lacks.
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => Err("this vae was built without the wgpu backend: build it with `cargo build --release` \
             (the `wgpu` feature is on by default)"
            .into()),
    }
}

fn block_on<T>(f: impl std::future::Future<Output = vae::Result<T>>) -> Result<T, String> {
    pollster::block_on(f).map_err(|e| e.to_string())
}

fn load_model(path: &Path, device: &Device) -> Result<Inference, String> {
    let weights = VaeWeights::load(path).map_err(|e| e.to_string())?;
    Inference::new(&weights, device).map_err(|e| e.to_string())
}

fn load_data(path: &Path) -> Result<Dataset, String> {
    Dataset::load(path).map_err(|e| e.to_string())
}

/// Images to score or encode: IDX (unsigned bytes or 32-bit floats) or the compact data file.
fn load_images(path: &Path) -> Result<Vec<f32>, String> {
    vae::data::load_images(path).map_err(|e| e.to_string())
}

fn print_json(value: serde_json::Value) {
    println!("{value}");
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Train { kind, epochs, latent, hidden, beta, lr, batch, seed, data, out } => {
            let kind = match kind {
                Kind::Vae => ModelKind::Vae,
                Kind::Cvae => ModelKind::Cvae,
            };
            let config = VaeConfig { hidden, latent, beta, kind };
            let options = TrainerOptions { learning_rate: lr, batch_size: batch, seed };
            let weights = VaeWeights::init(config, seed).map_err(|e| e.to_string())?;
            options.validate().map_err(|e| e.to_string())?;
            vae::LIMITS.epochs.check("epochs", epochs).map_err(|e| e.to_string())?;
            let data = load_data(&data)?;
            let device = device(cli.backend)?;
            train(&weights, options, epochs, &data, &device, &out)
        }
        Command::Eval { model, data, iw, samples, seed_model, seed, json } => {
            let device = device(cli.backend)?;
            let inference = load_model(&model, &device)?;
            let (data, split) = match data {
                None => (load_data(Path::new(DEFAULT_DATA))?, Split::Test),
                Some(path) => {
                    let d = load_data(&path)?;
                    let split = d.evaluation_split();
                    (d, split)
                }
            };
            let indices = data.indices(split);
            let mut rng = Rng::new(seed);
            let report = block_on(inference.evaluate(&data, &indices, &mut rng))?;
            let iw_nll = match iw {
                None => None,
                Some(k) => {
                    let mut total = 0.0;
                    for chunk in indices.chunks(50) {
                        let labels = data.model_labels(inference.kind(), chunk);
                        total += block_on(inference.iwae_nll(&data.images(chunk), labels.as_deref(), k, &mut rng))?
                            .iter()
                            .sum::<f64>();
                    }
                    Some(total / indices.len() as f64)
                }
            };
            let conditional = match inference.kind() {
                ModelKind::Vae => None,
                ModelKind::Cvae => {
                    let seed_model = seed_model.map(|path| load_model(&path, &device)).transpose()?;
                    Some(block_on(vae::model::quality::measure_conditional(
                        &inference,
                        &data,
                        samples,
                        iw,
                        seed_model.as_ref(),
                        &mut rng,
                    ))?)
                }
            };
            if json {
                let mut v = serde_json::to_value(report).map_err(|e| e.to_string())?;
                if let Some(nll) = iw_nll {
                    v["iw_nll"] = nll.into();
                }
                if let Some(c) = &conditional {
                    v["conditional"] = serde_json::to_value(c).map_err(|e| e.to_string())?;
                }
                print_json(v);
            } else {
                let EvalReport { n, loss, recon, kl, loss_mu } = report;
                let given = if conditional.is_some() { " (each with its digit given)" } else { "" };
                println!(
                    "{n} images{given}: loss {loss:.2} nats (recon {recon:.2}, KL {kl:.2}); loss with z = μ {loss_mu:.2}"
                );
                if let (Some(nll), Some(k)) = (iw_nll, iw) {
                    println!("IWAE bound on −log p(x), K = {k}: {nll:.2} nats");
                }
                if let Some(c) = conditional {
                    print_conditional(&c, iw);
                }
            }
            Ok(())
        }
        Command::Sample { model, n, temperature, digit, seed, out } => {
            let device = device(cli.backend)?;
            let inference = load_model(&model, &device)?;
            let images = block_on(inference.sample(n, temperature, digit, &mut Rng::new(seed)))?;
            image::write_grid(&out, &images, 8, 2)?;
            println!("wrote {n} samples to {}", out.display());
            Ok(())
        }
        Command::Convert { model, out, f16, q8 } => {
            let weights = VaeWeights::load(&model).map_err(|e| e.to_string())?;
            let (bytes, precision) = match (f16, q8) {
                (true, _) => (weights.to_safetensors_f16(), "f16"),
                (_, true) => (weights.to_safetensors_q8(), "q8"),
                _ => (weights.to_safetensors(), "f32"),
            };
            let bytes = bytes.map_err(|e| e.to_string())?;
            std::fs::write(&out, &bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!("wrote {} ({} bytes, {precision})", out.display(), bytes.len());
            Ok(())
        }
        Command::Reconstruct { model, image, digit, out } => {
            let device = device(cli.backend)?;
            let inference = load_model(&model, &device)?;
            let input = drawing(&image)?;
            let labels = digits_for(&inference, &input, digit)?;
            let recon = block_on(inference.reconstruct(&input, labels.as_deref()))?;
            image::write_grid(&out, &[input, recon].concat(), 2, 4)?;
            println!("wrote the preprocessed input and its reconstruction to {}", out.display());
            Ok(())
        }
        Command::Score { model, images, json } => {
            let device = device(cli.backend)?;
            let inference = load_model(&model, &device)?;
            let images = load_images(&images)?;
            let mut losses = Vec::with_capacity(images.len() / IMAGE_PIXELS);
            for chunk in images.chunks(vae::model::inference::EVAL_BATCH / CLASSES * IMAGE_PIXELS) {
                match inference.kind() {
                    ModelKind::Vae => {
                        losses.extend(block_on(inference.losses(chunk, None, None))?.iter().map(|p| p.loss))
                    }
                    ModelKind::Cvae => {
                        losses.extend(block_on(inference.read(chunk))?.iter().map(|r| r.marginal_loss()))
                    }
                }
            }
            if json {
                print_json(serde_json::json!({ "loss": losses }));
            } else {
                for (i, l) in losses.iter().enumerate() {
                    println!("{i}\t{l:.3}");
                }
            }
            Ok(())
        }
        Command::Map { model, data, method, page_file: Some(page_file), out, json, .. } => {
            if method == Some(MapMethod::Pca) {
                return Err("--page-file holds the page's t-SNE map: --method pca makes none".into());
            }
            let model = model.unwrap_or_else(|| PathBuf::from(DEFAULT_PAGE_MODEL));
            page_map(&model, &data, device(cli.backend)?, &page_file, out.as_deref(), json)
        }
        Command::Map { model, data, method, iterations, digits, out, json, page_file: None } => {
            let method = method.unwrap_or(MapMethod::Pca);
            let model = model.unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL));
            let out = out.expect("clap requires --out without --page-file");
            let device = device(cli.backend)?;
            let inference = load_model(&model, &device)?;
            let data = load_data(&data)?;
            let started = Instant::now();
            // Spread over the data set, which is stored digit by digit.
            let all = data.indices(Split::All);
            let n = digits.unwrap_or(all.len()).clamp(1, all.len());
            let indices: Vec<usize> = (0..n).map(|i| all[i * all.len() / n]).collect();
            let index = block_on(vae::LatentIndex::build(&inference, &data, &indices))?;
            let pca = index.map_positions();
            let positions = match method {
                MapMethod::Pca => pca,
                MapMethod::Tsne => {
                    let options = vae::explore::tsne::TsneOptions { iterations, ..Default::default() };
                    let mut tsne = vae::explore::tsne::Tsne::new(&index.mu, index.latent, &pca, options)
                        .map_err(|e| e.to_string())?;
                    tsne.run();
                    tsne.positions()
                }
            };
            let seconds = started.elapsed().as_secs_f64();
            let agreement =
                vae::explore::tsne::knn_label_agreement(&positions, &index.labels, vae::session::AGREEMENT_NEIGHBOURS);
            image::write_scatter(&out, &positions, &index.labels, 640)?;
            let name = if method == MapMethod::Pca { "PCA" } else { "t-SNE" };
            if json {
                print_json(serde_json::json!({ "method": name, "digits": index.labels.len(),
                    "label_agreement_10nn": agreement, "seconds": seconds }));
            } else {
                println!(
                    "{name} map of {} digits in {seconds:.1} s: a digit's 10 nearest on the map share its label {:.1}% of the time; wrote {}",
                    index.labels.len(),
                    100.0 * agreement,
                    out.display()
                );
            }
            Ok(())
        }
        Command::Encode { model, images, digit, json } => {
            let device = device(cli.backend)?;
            let inference = load_model(&model, &device)?;
            let images = load_images(&images)?;
            let latent = inference.latent();
            let mut mu = Vec::with_capacity(images.len() / IMAGE_PIXELS * latent);
            for chunk in images.chunks(vae::model::inference::EVAL_BATCH / CLASSES * IMAGE_PIXELS) {
                let labels = digits_for(&inference, chunk, digit)?;
                mu.extend(block_on(inference.encode(chunk, labels.as_deref()))?.mu);
            }
            let rows: Vec<&[f32]> = mu.chunks(latent).collect();
            if json {
                print_json(serde_json::json!({ "mu": rows }));
            } else {
                for row in rows {
                    println!("{}", row.iter().map(|v| format!("{v:.5}")).collect::<Vec<_>>().join("\t"));
                }
            }
            Ok(())
        }
        Command::Read { model, images, iw, seed, json } => {
            let device = device(cli.backend)?;
            let inference = load_model(&model, &device)?;
            let images = load_images(&images)?;
            let mut rng = Rng::new(seed);
            let mut readings = Vec::with_capacity(images.len() / IMAGE_PIXELS);
            for chunk in images.chunks(vae::model::inference::EVAL_BATCH / CLASSES * IMAGE_PIXELS) {
                readings.extend(match iw {
                    None => block_on(inference.read(chunk))?,
                    Some(k) => block_on(inference.read_iwae(chunk, k, &mut rng))?,
                });
            }
            if json {
                print_json(serde_json::json!({ "readings": readings }));
            } else {
                for (i, r) in readings.iter().enumerate() {
                    println!("{i}\t{}\t{:.1} %", r.digit, 100.0 * r.certainty());
                }
            }
            Ok(())
        }
        Command::Restyle { model, images, pick, out } => {
            let device = device(cli.backend)?;
            let inference = load_model(&model, &device)?;
            let mut images = if images.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
                drawing(&images)?
            } else {
                load_images(&images)?
            };
            if !pick.is_empty() {
                let n = images.len() / IMAGE_PIXELS;
                if let Some(bad) = pick.iter().find(|&&i| i >= n) {
                    return Err(format!("--pick {bad}: the file holds {n} image(s)"));
                }
                images = pick.iter().flat_map(|&i| images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS].to_vec()).collect();
            }
            let grid = block_on(inference.restyle(&images, None))?;
            let rows: Vec<f32> = images
                .chunks_exact(IMAGE_PIXELS)
                .zip(grid.chunks_exact(CLASSES * IMAGE_PIXELS))
                .flat_map(|(input, redrawn)| input.iter().chain(redrawn).copied())
                .collect();
            image::write_grid(&out, &rows, CLASSES + 1, 2)?;
            println!(
                "wrote {} image(s), each redrawn as 0–9, to {} (one row each: the input, then as 0 … as 9)",
                images.len() / IMAGE_PIXELS,
                out.display()
            );
            Ok(())
        }
    }
}

/// The page's t-SNE map of `model` over `data`, made as the page's worker makes it (the core's
/// session: index steps, then t-SNE steps), written to `file` as the page's map file and read back
/// through the session as the page reads it; the figures and the optional scatter are the file's.
fn page_map(
    model: &Path,
    data: &Path,
    device: Device,
    file: &Path,
    png: Option<&Path>,
    json: bool,
) -> Result<(), String> {
    let weights = VaeWeights::load(model).map_err(|e| e.to_string())?;
    let data = Arc::new(load_data(data)?);
    let started = Instant::now();
    let mut session = vae::Session::new(weights, data, device).map_err(|e| e.to_string())?;
    while !block_on(session.index_step())?.done {}
    session.tsne_begin().map_err(|e| e.to_string())?;
    while session.tsne_step().map_err(|e| e.to_string())?.state != "made" {}
    let seconds = started.elapsed().as_secs_f64();
    let made = session.tsne_map().expect("the map is made").label_agreement;
    let bytes = session.tsne_file().map_err(|e| e.to_string())?;
    std::fs::write(file, &bytes).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    session.tsne_restore_file(&bytes).map_err(|e| format!("{} was written but is refused: {e}", file.display()))?;
    let map = session.tsne_map().expect("the map is restored");
    if let Some(png) = png {
        image::write_scatter(png, &map.points, &map.labels, 640)?;
    }
    let digest = session.weights().digest_hex();
    if json {
        print_json(
            serde_json::json!({ "method": "t-SNE", "digits": map.labels.len(), "label_agreement_10nn": map.label_agreement,
            "label_agreement_10nn_made": made, "seconds": seconds, "bytes": bytes.len(), "model_digest": digest }),
        );
    } else {
        println!(
            "the page's t-SNE map of {} digits in {seconds:.1} s: a digit's 10 nearest on the map share its label {:.1}% of the time \
             ({:.1}% before its positions were quantised); wrote {} ({} bytes) for the model of digest {digest}",
            map.labels.len(),
            100.0 * map.label_agreement,
            100.0 * made,
            file.display(),
            bytes.len()
        );
    }
    Ok(())
}

/// A drawing (PNG) preprocessed as the page preprocesses a sketch.
fn drawing(path: &Path) -> Result<Vec<f32>, String> {
    let (ink, w, h) = image::read_ink(path)?;
    vae::explore::sketch::preprocess(&ink, w, h)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} is empty (no ink): nothing to read", path.display()))
}

/// The labels a pass over `images` takes: none for the seed's model (which refuses --digit); for a
/// conditional model `digit` for every image, or else each image's reading.
fn digits_for(inference: &Inference, images: &[f32], digit: Option<u8>) -> Result<Option<Vec<u8>>, String> {
    let n = images.len() / IMAGE_PIXELS;
    match (inference.kind(), digit) {
        (ModelKind::Vae, None) => Ok(None),
        (ModelKind::Vae, Some(_)) => {
            Err("--digit needs a conditional model (kind cvae); this is the seed's VAE".into())
        }
        (ModelKind::Cvae, Some(d)) => Ok(Some(vec![d; n])),
        (ModelKind::Cvae, None) => Ok(Some(block_on(inference.read(images))?.iter().map(|r| r.digit).collect())),
    }
}

fn print_conditional(c: &vae::model::quality::ConditionalReport, iw: Option<usize>) {
    println!(
        "reading (lowest per-label loss at z = μ): {:.1} % correct; the judge (5-NN on the training pixels) alone: {:.1} %",
        c.reading, c.judge_accuracy
    );
    if let (Some(r), Some(k)) = (c.reading_iwae, iw) {
        println!("reading by each label's IWAE bound, K = {k}: {r:.1} % correct");
    }
    if let (Some(n), Some(both)) = (c.neighbour_reading, c.combined_reading) {
        println!("the seed model's 5 latent neighbours: {n:.1} % correct; combined with the reading: {both:.1} %");
    }
    println!(
        "redrawn as each other digit, read as asked: {:.1} %; slant kept (r): {:.2}; samples of a digit, read as asked: {:.1} %",
        c.redrawn_as_asked, c.slant_kept, c.samples_as_asked
    );
}

fn train(
    weights: &VaeWeights,
    options: TrainerOptions,
    epochs: usize,
    data: &Dataset,
    device: &Device,
    out: &Path,
) -> Result<(), String> {
    let mut trainer = Trainer::new(weights, data.indices(Split::Train), options, device).map_err(|e| e.to_string())?;
    let test = data.indices(Split::Test);
    for epoch in 1..=epochs {
        let bar = ProgressBar::new(trainer.steps_per_epoch() as u64).with_style(
            ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} steps, {per_sec}, ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(epoch.to_string());
        let start = Instant::now();
        let train = block_on(trainer.train_epoch(data, |r| {
            bar.inc(1);
            if r.step % 10 == 0 {
                bar.set_message(format!("{epoch} loss {:.1}", r.parts.loss));
            }
        }))?;
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let t = block_on(trainer.evaluate(data, &test))?;
        println!(
            "epoch {epoch:>3}  train loss {:.2} (recon {:.2}, KL {:.2})  test loss {:.2} (recon {:.2}, KL {:.2}, z = μ {:.2})  {seconds:.2} s",
            train.loss, train.recon, train.kl, t.loss, t.recon, t.kl, t.loss_mu
        );
    }
    let weights = block_on(trainer.weights())?;
    weights.save(out).map_err(|e| e.to_string())?;
    println!("saved {} ({} parameters)", out.display(), weights.config.num_params());
    Ok(())
}
