//! The real `vae` binary, end to end: every subcommand on the committed default model and data, and
//! every kind of bad input exiting non-zero with a one-line message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vae")).args(args).output().expect("vae runs")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "vae failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// A bad input: exit code non-zero, and exactly one line on stderr containing `needle`.
fn refuses(args: &[&str], needle: &str) {
    let o = vae(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "vae {args:?} succeeded; expected a refusal");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "vae {args:?}: {err:?} does not mention {needle:?}");
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// Writes the first `n` test digits of the committed data set as an IDX images file (+ labels).
fn write_idx(n: usize, gzip: bool) -> PathBuf {
    let data = vae::Dataset::load(&repo("www/data/mnist.bin")).unwrap();
    let test = data.indices(vae::Split::Test);
    let mut images = vec![0, 0, 8, 3];
    for d in [n as u32, 28, 28] {
        images.extend(d.to_be_bytes());
    }
    let mut labels = vec![0, 0, 8, 1];
    labels.extend((n as u32).to_be_bytes());
    for &i in &test[..n] {
        images.extend(&data.pixels[i * 784..(i + 1) * 784]);
        labels.push(data.labels[i]);
    }
    let suffix = if gzip { ".gz" } else { "" };
    let prefix = tmp(&format!("set{n}{suffix}"));
    let write = |path: String, bytes: Vec<u8>| {
        let bytes = if gzip {
            let mut enc = flate2_encoder();
            std::io::Write::write_all(&mut enc, &bytes).unwrap();
            enc.finish().unwrap()
        } else {
            bytes
        };
        std::fs::write(path, bytes).unwrap();
    };
    write(format!("{}-images-idx3-ubyte{suffix}", prefix.display()), images);
    write(format!("{}-labels-idx1-ubyte{suffix}", prefix.display()), labels);
    prefix
}

fn flate2_encoder() -> flate2::write::GzEncoder<Vec<u8>> {
    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast())
}

#[test]
fn eval_of_the_default_model_reports_every_figure_and_it_is_trained() {
    let out = stdout(&vae(&["eval", "--iw", "5", "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for key in ["n", "loss", "recon", "kl", "loss_mu", "iw_nll"] {
        assert!(v[key].is_number(), "{key} missing in {out}");
    }
    assert_eq!(v["n"], 997);
    let (loss, loss_mu, iw) =
        (v["loss"].as_f64().unwrap(), v["loss_mu"].as_f64().unwrap(), v["iw_nll"].as_f64().unwrap());
    // The seed's PyTorch reaches 122.9 (sampled z) and 114.6 (z = μ) after 10 epochs on this split.
    assert!(loss < 126.0 && loss_mu < 118.0, "default model is not trained well: {out}");
    assert!(iw < loss, "the IWAE bound must be tighter than the ELBO: {out}");
    assert!((v["recon"].as_f64().unwrap() + v["kl"].as_f64().unwrap() - loss).abs() < 1e-6);
}

/// `vae convert <flag>` of the committed `model` must be exactly the committed `copy` (the values,
/// not the bytes: the header's metadata order is not fixed), and score the test set (z = μ) within
/// `nats` of the model. Returns the copy's size over the model's.
fn the_committed_copy_is_the_conversion(flag: &str, model: &str, copy: &str, nats: f64) -> f64 {
    let (model, committed) = (repo(model), repo(copy));
    let out = tmp(&format!("{flag}-{}", committed.file_name().unwrap().to_str().unwrap()));
    stdout(&vae(&["convert", flag, "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    assert!(
        vae::VaeWeights::load(&out).unwrap() == vae::VaeWeights::load(&committed).unwrap(),
        "{copy} is not `vae convert {flag}` of the model: run scripts/train-default.sh's conversions"
    );
    let loss_mu = |model: &Path| {
        let out = stdout(&vae(&["eval", "--model", model.to_str().unwrap(), "--json"]));
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["loss_mu"].as_f64().unwrap()
    };
    let (full, rounded) = (loss_mu(&model), loss_mu(&committed));
    assert!((full - rounded).abs() < nats, "{copy} moved the test loss (z = μ) from {full} to {rounded}");
    std::fs::metadata(&committed).unwrap().len() as f64 / std::fs::metadata(&model).unwrap().len() as f64
}

/// The page fetches the default model as f16 (half the bytes), each value rounded.
#[test]
fn the_pages_f16_default_model_is_the_default_model_rounded() {
    let size = the_committed_copy_is_the_conversion(
        "--f16",
        "www/model/default.safetensors",
        "www/model/default-f16.safetensors",
        0.02,
    );
    assert!(size < 0.51, "{size}");
}

/// The 8-bit copies (a quarter of the bytes, for transfer): within 0.1 nats of their f32 models.
#[test]
fn the_q8_copies_are_the_models_in_8_bits_within_a_tenth_of_a_nat() {
    for model in ["default", "conditional"] {
        let size = the_committed_copy_is_the_conversion(
            "--q8",
            &format!("www/model/{model}.safetensors"),
            &format!("www/model/{model}-q8.safetensors"),
            0.1,
        );
        assert!(size < 0.26, "{model}: {size}");
    }
    // Its precision is one flag: both is refused.
    let o = vae(&["convert", "--q8", "--f16", "--out", tmp("both.safetensors").to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
}

#[test]
fn an_idx_pair_is_evaluated_whole_plain_or_gzipped() {
    for gzip in [false, true] {
        let prefix = write_idx(30, gzip);
        let out = stdout(&vae(&["eval", "--data", prefix.to_str().unwrap(), "--json"]));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["n"], 30);
        assert!(v.get("iw_nll").is_none());
    }
}

/// The page's "Export your digits" writes the core's IDX pair under the core's names
/// (`vae::Session::your_digits_idx`): `vae eval --data your-digits` reads it back whole, with the
/// losses the core gives those digits.
#[test]
fn the_pages_exported_digits_are_evaluated_by_prefix() {
    use vae::session::{YOUR_DIGITS_PREFIX, YourDigit};
    let data = std::sync::Arc::new(vae::Dataset::load(&repo("www/data/mnist.bin")).unwrap());
    let weights = vae::VaeWeights::load(&repo("www/model/default.safetensors")).unwrap();
    #[allow(deprecated)]
    let device = vae::Device::ndarray();
    let mut session = vae::Session::new(weights.clone(), data.clone(), device.clone()).unwrap();
    let test = data.indices(vae::Split::Test);
    let picked: Vec<usize> = test.iter().step_by(53).copied().collect();
    let digits = picked
        .iter()
        .enumerate()
        .map(|(i, &d)| YourDigit {
            id: i as u64,
            label: data.labels[d],
            pixels: data.pixels[d * 784..(d + 1) * 784].to_vec(),
        })
        .collect();
    pollster::block_on(session.add_your_digits(digits)).unwrap();
    let dir = tmp("exported");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in session.your_digits_idx().unwrap() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let prefix = dir.join(YOUR_DIGITS_PREFIX);
    let out = stdout(&vae(&["eval", "--data", prefix.to_str().unwrap(), "--json"]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["n"], picked.len());
    let inference = vae::Inference::new(&weights, &device).unwrap();
    let losses = pollster::block_on(inference.losses(&data.images(&picked), None, None)).unwrap();
    let expected = losses.iter().map(|p| p.loss).sum::<f64>() / losses.len() as f64;
    let loss_mu = v["loss_mu"].as_f64().unwrap();
    assert!((loss_mu - expected).abs() < 1e-3, "vae eval: {loss_mu}, the core: {expected}");
}

#[test]
fn score_and_encode_read_any_idx_image_file() {
    let prefix = write_idx(12, false);
    let images = format!("{}-images-idx3-ubyte", prefix.display());
    let v: serde_json::Value = serde_json::from_str(&stdout(&vae(&["score", "--images", &images, "--json"]))).unwrap();
    let losses = v["loss"].as_array().unwrap();
    assert_eq!(losses.len(), 12);
    assert!(losses.iter().all(|l| l.as_f64().unwrap() > 10.0 && l.as_f64().unwrap() < 400.0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&vae(&["encode", "--images", &images, "--json"]))).unwrap();
    let mu = v["mu"].as_array().unwrap();
    assert_eq!(mu.len(), 12);
    assert_eq!(mu[0].as_array().unwrap().len(), 20);
}

#[test]
fn sample_writes_an_8_by_8_grid_and_reconstruct_reads_a_drawing() {
    let grid = tmp("grid.png");
    stdout(&vae(&["sample", "--out", grid.to_str().unwrap(), "--seed", "3"]));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&grid).unwrap()));
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (8 * 58 + 2, 8 * 58 + 2));

    // A thick dark "1" on white paper, 100×140.
    let (w, h) = (100u32, 140u32);
    let mut pixels = vec![255u8; (w * h) as usize];
    for y in 20..120 {
        for x in 44..56 {
            pixels[(y * w + x) as usize] = 0;
        }
    }
    let drawing = tmp("one.png");
    let mut enc = png::Encoder::new(std::fs::File::create(&drawing).unwrap(), w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.write_header().unwrap().write_image_data(&pixels).unwrap();
    let out = tmp("recon.png");
    stdout(&vae(&["reconstruct", "--image", drawing.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    assert!(out.is_file());
}

#[test]
fn map_draws_pca_and_t_sne_maps_and_t_sne_keeps_digits_together() {
    let agreement = |method: &str| {
        let out = tmp(&format!("map-{method}.png"));
        let args = ["map", "--method", method, "--digits", "2000", "--json", "--out", out.to_str().unwrap()];
        let v: serde_json::Value = serde_json::from_str(&stdout(&vae(&args))).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&out).unwrap()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height, info.color_type), (640, 640, png::ColorType::Rgb));
        assert_eq!(v["digits"], 2000);
        v["label_agreement_10nn"].as_f64().unwrap()
    };
    let (pca, tsne) = (agreement("pca"), agreement("tsne"));
    eprintln!("10-NN label agreement on the map, default model, 2 000 digits: PCA {pca:.3}, t-SNE {tsne:.3}");
    assert!(pca > 0.15 && pca < 0.6, "PCA {pca}");
    assert!(tsne > 0.75 && tsne > pca + 0.3, "t-SNE {tsne} against PCA {pca}");
}

/// `map --page-file`: the page's t-SNE map of a model, made through the core's session and
/// written as the page's map file, which a session of that model and data set takes (as the
/// page's worker does) and one of another model does not.
#[test]
#[allow(deprecated)] // burn-ndarray is the CPU backend the design names
fn map_page_file_writes_the_pages_t_sne_map_which_a_session_of_that_model_takes() {
    let data = write_idx(400, false);
    let (file, png) = (tmp("page-tsne.bin"), tmp("page-tsne.png"));
    let model = repo("www/model/default-q8.safetensors");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    // The model the page loads is the default one with --page-file.
    let args = ["map", "--data", &path(&data), "--page-file", &path(&file), "--out", &path(&png)];
    let v: serde_json::Value = serde_json::from_str(&stdout(&vae(&[&args[..], &["--json"]].concat()))).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!((v["method"].as_str(), v["digits"].as_u64()), (Some("t-SNE"), Some(400)));
    assert_eq!(v["bytes"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(bytes.len(), 100 + 4 * 400, "a 100-byte header and two u16 a digit");
    let agreement = v["label_agreement_10nn"].as_f64().unwrap();
    eprintln!("the page's t-SNE map of 400 test digits: 10-NN label agreement {agreement:.3}, {} bytes", bytes.len());
    assert!(agreement > 0.75, "{agreement}");
    assert!((agreement - v["label_agreement_10nn_made"].as_f64().unwrap()).abs() < 0.01, "quantised, the same map");
    assert!(png.is_file());

    // A session of the model and data set takes it once its index is whole, as the page's does.
    let weights = vae::VaeWeights::load(&model).unwrap();
    assert_eq!(v["model_digest"].as_str(), Some(weights.digest_hex().as_str()));
    let dataset = std::sync::Arc::new(vae::Dataset::load(&data).unwrap());
    let mut session = vae::Session::new(weights, dataset.clone(), vae::Device::ndarray()).unwrap();
    assert!(session.tsne_file_fits(&bytes).unwrap());
    while !pollster::block_on(session.index_step()).unwrap().done {}
    assert_eq!(session.tsne_restore_file(&bytes).unwrap().state, "made");
    let map = session.tsne_map().unwrap();
    assert_eq!((map.points.len(), map.label_agreement), (800, agreement));
    // The f32 default model is another model (the q8 copy's values are rounded): not its map.
    let f32_model = vae::VaeWeights::load(&repo("www/model/default.safetensors")).unwrap();
    let other = vae::Session::new(f32_model, dataset, vae::Device::ndarray()).unwrap();
    assert!(!other.tsne_file_fits(&bytes).unwrap());

    refuses(
        &[&args[..], &["--method", "pca"]].concat(),
        "--page-file holds the page's t-SNE map: --method pca makes none",
    );
    refuses(&[&args[..], &["--digits", "100"]].concat(), "cannot be used with");
    refuses(&["map", "--method", "tsne"], "the following required arguments were not provided: --out <OUT>");
}

#[test]
fn bad_inputs_exit_non_zero_with_one_line() {
    let junk = tmp("junk.safetensors");
    std::fs::write(&junk, b"definitely not safetensors").unwrap();
    let junk = junk.to_str().unwrap();
    refuses(&["eval", "--model", "/nonexistent/model.safetensors"], "cannot read /nonexistent/model.safetensors");
    refuses(&["eval", "--model", junk], "not a safetensors file");
    refuses(&["sample", "--model", junk, "--out", "/tmp/x.png"], "invalid weights");
    refuses(&["eval", "--data", "/nonexistent/prefix"], "neither a data file nor the prefix of an IDX pair");
    refuses(&["score", "--images", junk], "not an IDX");
    refuses(&["reconstruct", "--image", junk, "--out", "/tmp/x.png"], "not a readable PNG");
    refuses(&["train", "--epochs", "1", "--latent", "0", "--out", "/tmp/x.safetensors"], "latent size 0");
    refuses(&["train", "--epochs", "1", "--lr", "NaN", "--out", "/tmp/x.safetensors"], "learning rate");
    refuses(&["sample", "--temperature=-1", "--out", "/tmp/x.png"], "temperature");
    refuses(&["sample", "--n", "many", "--out", "/tmp/x.png"], "invalid value 'many'");
    refuses(&["frobnicate"], "unrecognized subcommand");
    refuses(&["map", "--method", "umap", "--out", "/tmp/x.png"], "invalid value 'umap'");
    refuses(&["map", "--method", "tsne", "--digits", "20", "--out", "/tmp/x.png"], "needs at least 180 points");
    // A model with a NaN.
    let mut w = vae::VaeWeights::init(vae::VaeConfig::vae(4, 2, 1.0), 0).unwrap();
    let nan_path = tmp("nan.safetensors");
    w.layers[1].bias[0] = 1.0;
    let mut bytes = w.to_safetensors().unwrap();
    let one = 1.0f32.to_le_bytes();
    let at = bytes.windows(4).position(|b| b == one).unwrap();
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&nan_path, bytes).unwrap();
    refuses(&["eval", "--model", nan_path.to_str().unwrap()], "non-finite");
    // An empty drawing.
    let blank = tmp("blank.png");
    let mut enc = png::Encoder::new(std::fs::File::create(&blank).unwrap(), 10, 10);
    enc.set_color(png::ColorType::Grayscale);
    enc.write_header().unwrap().write_image_data(&[255u8; 100]).unwrap();
    refuses(&["reconstruct", "--image", blank.to_str().unwrap(), "--out", "/tmp/x.png"], "empty");
}

#[test]
fn one_epoch_of_training_writes_a_loadable_model() {
    let out = tmp("one-epoch.safetensors");
    let text =
        stdout(&vae(&["train", "--epochs", "1", "--latent", "2", "--hidden", "64", "--out", out.to_str().unwrap()]));
    assert!(text.contains("epoch   1  train loss"), "{text}");
    let w = vae::VaeWeights::load(&out).unwrap();
    assert_eq!((w.config.latent, w.config.hidden), (2, 64));
}

/// An IDX images file of `n` images: unsigned bytes (type 0x08) or 32-bit floats (0x0D), big-endian.
fn idx_images(name: &str, values: &[f32], floats: bool) -> PathBuf {
    let n = values.len() / 784;
    let mut bytes = vec![0, 0, if floats { 0x0D } else { 0x08 }, 3];
    for d in [n as u32, 28, 28] {
        bytes.extend(d.to_be_bytes());
    }
    for v in values {
        if floats {
            bytes.extend(v.to_be_bytes());
        } else {
            bytes.push((v * 255.0).round() as u8);
        }
    }
    let path = tmp(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A model trained and saved by PyTorch (`tests/fixtures/pytorch-vae-h16-z2.*`, made by
/// `scripts/make-pytorch-fixture.py`: the seed's module, no metadata): `vae score` and `vae encode`
/// give PyTorch's numbers (its float64 computation) on the same digits, read from an IDX file of
/// bytes and of floats alike. Tolerance as in the core's test: 2e-6 relative on the loss, 1e-5 on μ.
#[test]
fn score_and_encode_of_a_model_saved_by_pytorch_give_pytorchs_numbers() {
    let torch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("tests/fixtures/pytorch-vae-h16-z2.json")).unwrap())
            .unwrap();
    let model = repo("tests/fixtures/pytorch-vae-h16-z2.safetensors");
    let model = model.to_str().unwrap();
    let digits: Vec<usize> = torch["digits"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let images = vae::Dataset::load(&repo("www/data/mnist.bin")).unwrap().images(&digits);
    let expected: Vec<f64> = torch["loss_f64"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let expected_mu = torch["mu_f64"].as_array().unwrap();
    for floats in [false, true] {
        let file = idx_images(if floats { "torch-digits-f32" } else { "torch-digits-u8" }, &images, floats);
        let file = file.to_str().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&stdout(&vae(&["score", "--model", model, "--images", file, "--json"]))).unwrap();
        let losses: Vec<f64> = v["loss"].as_array().unwrap().iter().map(|l| l.as_f64().unwrap()).collect();
        assert_eq!(losses.len(), expected.len());
        for (got, want) in losses.iter().zip(&expected) {
            assert!((got - want).abs() <= 2e-6 * want.abs(), "vae score {got}, PyTorch {want} (floats: {floats})");
        }
        let v: serde_json::Value =
            serde_json::from_str(&stdout(&vae(&["encode", "--model", model, "--images", file, "--json"]))).unwrap();
        for (got, want) in v["mu"].as_array().unwrap().iter().zip(expected_mu) {
            for (g, w) in got.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
                assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() <= 1e-5, "μ {got} against PyTorch's {want}");
            }
        }
    }
    let mut bad = images[..784].to_vec();
    bad[100] = 2.0;
    let bad = idx_images("bad-floats", &bad, true);
    refuses(
        &["score", "--model", model, "--images", bad.to_str().unwrap()],
        "pixel 100: grey level 2 is not in [0, 1]",
    );
}

/// Built without the `wgpu` feature (as the test command builds it), `--backend wgpu` is refused
/// with what to do; built with it, the backend starts and evaluates the default model
/// (`scripts/test-native-gpu.sh`).
#[test]
fn backend_wgpu_runs_or_says_how_to_get_it() {
    if cfg!(feature = "wgpu") {
        let loss = |args: &[&str]| {
            let out = stdout(&vae(args));
            serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["loss_mu"].as_f64().unwrap()
        };
        let (on_wgpu, on_cpu) = (loss(&["--backend", "wgpu", "eval", "--json"]), loss(&["eval", "--json"]));
        assert!((on_wgpu - on_cpu).abs() < 1e-3 * on_cpu, "wgpu {on_wgpu}, ndarray {on_cpu}");
    } else {
        refuses(&["--backend", "wgpu", "eval"], "built without the wgpu backend");
    }
}

const CONDITIONAL: &str = "www/model/conditional.safetensors";

/// The committed conditional model (`scripts/train-default.sh`) through every subcommand that
/// takes a model: it is evaluated with its figures, reads digits, draws a chosen digit that it reads
/// back as that digit, redraws digits as 0–9, and scores and encodes as the seed's model does.
#[test]
fn the_conditional_model_reads_redraws_and_draws_a_chosen_digit() {
    let model = repo(CONDITIONAL);
    let model = model.to_str().unwrap();
    // eval: the loss with each digit's label given, and the measured figures.
    let v: serde_json::Value =
        serde_json::from_str(stdout(&vae(&["eval", "--model", model, "--samples", "20", "--json"])).trim()).unwrap();
    let c = &v["conditional"];
    for key in ["reading", "redrawn_as_asked", "slant_kept", "samples_as_asked", "judge_accuracy"] {
        assert!(c[key].is_number(), "{key} missing in {v}");
    }
    assert!(v["loss_mu"].as_f64().unwrap() < 150.0, "{v}");
    assert!(c["reading"].as_f64().unwrap() > 90.0, "{v}");

    // read: test digits read as their labels, as JSON and as text.
    let set = write_idx(40, false);
    let images = format!("{}-images-idx3-ubyte", set.display());
    let data = vae::Dataset::load(&set).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&vae(&["read", "--model", model, "--images", &images, "--json"]))).unwrap();
    let readings = v["readings"].as_array().unwrap();
    assert_eq!(readings.len(), 40);
    let right = readings.iter().zip(&data.labels).filter(|(r, l)| r["digit"].as_u64() == Some(**l as u64)).count();
    assert!(right >= 34, "{right} of 40 read right");
    for r in readings {
        let sum: f64 = r["confidence"].as_array().unwrap().iter().map(|c| c.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }
    let text = stdout(&vae(&["read", "--model", model, "--images", &images, "--iw", "4"]));
    assert_eq!(text.lines().count(), 40);
    assert!(text.lines().all(|l| l.ends_with(" %") && l.split('\t').count() == 3), "{text}");

    // sample --digit: a grid of 7s (the core's tests judge such samples); the seed's model refuses --digit.
    let sevens = tmp("sevens.png");
    stdout(&vae(&["sample", "--model", model, "--digit", "7", "--n", "16", "--out", sevens.to_str().unwrap()]));
    assert!(sevens.is_file());
    refuses(&["sample", "--digit", "7", "--out", "/tmp/x.png"], "takes no digit labels");
    refuses(&["sample", "--model", model, "--digit", "12", "--out", "/tmp/x.png"], "label 12 is not a digit");
    refuses(
        &["read", "--model", repo("www/model/default.safetensors").to_str().unwrap(), "--images", &images],
        "needs the conditional model",
    );

    // restyle: one row per image, the input then 0–9.
    let grid = tmp("restyle.png");
    let text = stdout(&vae(&["restyle", "--model", model, "--images", &images, "--out", grid.to_str().unwrap()]));
    assert!(text.contains("wrote 40 image(s)"), "{text}");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&grid).unwrap()));
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (11 * 58 + 2, 40 * 58 + 2));

    // score: the bound with the digit unknown, between the best label's loss and ln 10 above it; encode: μ.
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&vae(&["score", "--model", model, "--images", &images, "--json"]))).unwrap();
    for (score, r) in v["loss"].as_array().unwrap().iter().zip(readings) {
        let best = r["losses"].as_array().unwrap().iter().map(|l| l.as_f64().unwrap()).fold(f64::INFINITY, f64::min);
        let s = score.as_f64().unwrap();
        assert!(s >= best - 1e-3 && s <= best + 10f64.ln() + 1e-3, "score {s}, best label {best}");
    }
    let v: serde_json::Value = serde_json::from_str(&stdout(&vae(&[
        "encode", "--model", model, "--images", &images, "--digit", "3", "--json",
    ])))
    .unwrap();
    assert_eq!(v["mu"].as_array().unwrap().len(), 40);
}

/// `vae train --kind cvae` writes a conditional model, which the PyTorch conditional fixture's
/// reader path also takes (`tests/fixtures/pytorch-cvae-h16-z2.*`): read as PyTorch reads it.
#[test]
fn training_a_conditional_model_and_reading_pytorchs() {
    let out = tmp("cvae.safetensors");
    let text = stdout(&vae(&[
        "train",
        "--kind",
        "cvae",
        "--epochs",
        "1",
        "--latent",
        "2",
        "--hidden",
        "64",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(text.contains("epoch   1  train loss"), "{text}");
    let w = vae::VaeWeights::load(&out).unwrap();
    assert_eq!(w.config, vae::VaeConfig::cvae(64, 2, 1.0));

    let torch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo("tests/fixtures/pytorch-cvae-h16-z2.json")).unwrap())
            .unwrap();
    let digits: Vec<usize> = torch["digits"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let images = vae::Dataset::load(&repo("www/data/mnist.bin")).unwrap().images(&digits);
    let file = idx_images("torch-cvae-digits", &images, true);
    let model = repo("tests/fixtures/pytorch-cvae-h16-z2.safetensors");
    let v: serde_json::Value = serde_json::from_str(&stdout(&vae(&[
        "read",
        "--model",
        model.to_str().unwrap(),
        "--images",
        file.to_str().unwrap(),
        "--json",
    ])))
    .unwrap();
    for (r, want) in v["readings"].as_array().unwrap().iter().zip(torch["losses_by_label_f64"].as_array().unwrap()) {
        for (g, w) in r["losses"].as_array().unwrap().iter().zip(want.as_array().unwrap()) {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= 2e-6 * w.abs(), "vae read {g}, PyTorch {w}");
        }
    }
}
