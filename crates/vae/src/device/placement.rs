//! Where each of the page's jobs runs when the backend is "auto": on the backend that measured
//! faster for that job, on this machine. A batch-1 sketch is dominated by dispatch and read-back
//! latency, where a training step at batch 128 is where a GPU pays; a software adapter
//! (SwiftShader here) is slower than the CPU at everything. So the choice is made per job class,
//! from timings taken after the kernels were compiled, never from the adapter's name.

use serde::Serialize;
use web_time::Instant;

use crate::explore::neighbours::LatentIndex;
use crate::model::inference::Inference;
use crate::{Dataset, Device, Result, Split, Trainer, TrainerOptions, VaeWeights};

/// The page's jobs, by what makes them fast or slow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Job {
    /// One sketch's analysis and the other interactive calls (decodes, samples, walks,
    /// variations): batch 1 to 64, answered while a person waits.
    Sketch,
    /// A step of the neighbour index: a few hundred digits encoded in one batch.
    Index,
    /// A training step (forward, backward, Adam) at the page's batch size.
    Training,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::Sketch, Job::Index, Job::Training];

    /// The name the page shows.
    pub fn label(self) -> &'static str {
        match self {
            Job::Sketch => "Sketch",
            Job::Index => "Neighbour index",
            Job::Training => "Training",
        }
    }
}

/// A backend a job can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    Cpu,
    Webgpu,
}

/// WebGPU takes a job only when it is this much faster: timings taken beside a busy page are
/// noisy, and a job on WebGPU pays a copy of the model and its index to get there.
pub const WEBGPU_MARGIN: f64 = 1.25;

/// One job's median time (after its kernels were compiled) on each backend, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct JobTiming {
    pub job: Job,
    pub cpu_ms: f64,
    pub webgpu_ms: f64,
}

/// Where a job runs and why, with the timings the choice came from (None when the backend was
/// forced and nothing was measured).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobChoice {
    pub job: Job,
    pub label: &'static str,
    pub place: Place,
    pub cpu_ms: Option<f64>,
    pub webgpu_ms: Option<f64>,
    pub reason: String,
}

/// The faster correct backend for each measured job: WebGPU when it beats the CPU by
/// [`WEBGPU_MARGIN`], else the CPU. A timing that is not a finite positive number counts as a
/// failure of that backend for that job.
pub fn choose(timings: &[JobTiming]) -> Vec<JobChoice> {
    timings
        .iter()
        .map(|t| {
            let usable = |ms: f64| ms.is_finite() && ms > 0.0;
            let (place, reason) = match (usable(t.cpu_ms), usable(t.webgpu_ms)) {
                (_, false) => (Place::Cpu, "WebGPU gave no usable timing".to_string()),
                (false, true) => (Place::Webgpu, "the CPU gave no usable timing".to_string()),
                (true, true) if t.cpu_ms >= WEBGPU_MARGIN * t.webgpu_ms => {
                    (Place::Webgpu, format!("WebGPU is {} faster", times(t.cpu_ms / t.webgpu_ms)))
                }
                (true, true) if t.webgpu_ms < t.cpu_ms => (
                    Place::Cpu,
                    format!(
                        "WebGPU is only {} faster (it must be {WEBGPU_MARGIN}× to be worth a move)",
                        times(t.cpu_ms / t.webgpu_ms)
                    ),
                ),
                (true, true) => (Place::Cpu, format!("the CPU is {} faster", times(t.webgpu_ms / t.cpu_ms))),
            };
            JobChoice {
                job: t.job,
                label: t.job.label(),
                place,
                cpu_ms: Some(t.cpu_ms),
                webgpu_ms: Some(t.webgpu_ms),
                reason,
            }
        })
        .collect()
}

/// Every job on one backend, unmeasured, for `reason` (the page asked for it, or WebGPU cannot be
/// used or is not timed yet).
pub fn forced(place: Place, reason: &str) -> Vec<JobChoice> {
    forced_each(|_| place, reason)
}

/// Each job where `place_of_job` puts it, with `reason` (a placement chosen in the page).
pub fn forced_each(place_of_job: impl Fn(Job) -> Place, reason: &str) -> Vec<JobChoice> {
    Job::ALL
        .iter()
        .map(|&job| JobChoice {
            job,
            label: job.label(),
            place: place_of_job(job),
            cpu_ms: None,
            webgpu_ms: None,
            reason: reason.to_string(),
        })
        .collect()
}

/// The place chosen for `job` (the CPU when the job was not measured).
pub fn place_of(choices: &[JobChoice], job: Job) -> Place {
    choices.iter().find(|c| c.job == job).map_or(Place::Cpu, |c| c.place)
}

/// A ratio as the page shows it: "1.3×", "33×".
fn times(ratio: f64) -> String {
    if ratio < 10.0 { format!("{ratio:.1}×") } else { format!("{ratio:.0}×") }
}

/// Runs of each job timed after the untimed first one (which compiles its kernels).
const TIMED_RUNS: usize = 3;
/// Digits scored or encoded per step of the neighbour index on the CPU (the page's session builds
/// it a step at a time, between sketches). A sketch can wait one step, so a step is kept to a few
/// frames: in the page's CPU module 128 digits take 20–40 ms.
pub const INDEX_STEP: usize = 128;
/// The same on a GPU, where every step costs a fixed dispatch and read-back latency (≈ 0.5 s a
/// step on the software adapter here, whatever its size): small steps would only multiply it.
pub const INDEX_STEP_GPU: usize = 512;

/// Digits per index step when the index is built on `device`.
#[allow(deprecated)] // burn-ndarray is the CPU backend the design names
pub fn index_step_digits(device: &Device) -> usize {
    if *device == Device::ndarray() { INDEX_STEP } else { INDEX_STEP_GPU }
}

/// Digits per timed index step: a GPU's step ([`INDEX_STEP_GPU`]), on both devices, so the two
/// timings are of the same work at the batch a GPU builds the index with.
const INDEX_DIGITS: usize = INDEX_STEP_GPU;
/// The training step is timed at the page form's default batch size.
pub const TIMED_BATCH: usize = 128;

/// Times each job on `cpu` and on `webgpu` with `weights` (see [`time_job`]).
pub async fn measure(cpu: &Device, webgpu: &Device, weights: &VaeWeights, data: &Dataset) -> Result<Vec<JobTiming>> {
    let mut timings = Vec::new();
    for job in Job::ALL {
        let cpu_ms = time_job(job, cpu, weights, data).await?;
        let webgpu_ms = time_job(job, webgpu, weights, data).await?;
        timings.push(JobTiming { job, cpu_ms, webgpu_ms });
    }
    Ok(timings)
}

/// The median time of `job` on `device` in ms, over [`TIMED_RUNS`] runs after an untimed one. A
/// sketch: one analysis and its 8 nearest digits; an index step: [`INDEX_DIGITS`] digits
/// encoded and added; training: an Adam step at batch [`TIMED_BATCH`]. Each run ends with its
/// result read back, so a device's queue is drained inside the timing.
pub async fn time_job(job: Job, device: &Device, weights: &VaeWeights, data: &Dataset) -> Result<f64> {
    let mut times = Vec::with_capacity(TIMED_RUNS);
    match job {
        Job::Sketch => {
            let inference = Inference::new(weights, device)?;
            let mut index = LatentIndex::new(inference.latent(), device);
            index.add(&inference, data, &(0..INDEX_DIGITS.min(data.len())).collect::<Vec<_>>()).await?;
            let image = data.image(0);
            for run in 0..=TIMED_RUNS {
                let start = Instant::now();
                let analysed = inference.analyse(&image).await?;
                index.nearest(&analysed.mu, 8).await?;
                if run > 0 {
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        Job::Index => {
            let inference = Inference::new(weights, device)?;
            let digits: Vec<usize> = (0..INDEX_DIGITS.min(data.len())).collect();
            for run in 0..=TIMED_RUNS {
                let mut index = LatentIndex::new(inference.latent(), device);
                let start = Instant::now();
                index.add(&inference, data, &digits).await?;
                if run > 0 {
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        Job::Training => {
            let options = TrainerOptions { learning_rate: 1e-3, batch_size: TIMED_BATCH, seed: 0 };
            // Timing alone: any digits do while the page's training digits are still to come.
            let train = data.indices(Split::Train);
            let train = if train.is_empty() { data.indices(Split::All) } else { train };
            let mut trainer = Trainer::new(weights, train, options, device)?;
            for run in 0..=TIMED_RUNS {
                let start = Instant::now();
                trainer.step(data).await?;
                if run > 0 {
                    times.push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The device of each job class.
#[derive(Debug, Clone)]
pub struct Devices {
    pub sketch: Device,
    pub index: Device,
    pub training: Device,
}

impl Devices {
    /// Every job on `device`.
    pub fn all(device: &Device) -> Self {
        Devices { sketch: device.clone(), index: device.clone(), training: device.clone() }
    }

    /// Each job on the device of its place.
    pub fn placed(choices: &[JobChoice], cpu: &Device, webgpu: &Device) -> Self {
        let pick = |job| match place_of(choices, job) {
            Place::Cpu => cpu.clone(),
            Place::Webgpu => webgpu.clone(),
        };
        Devices { sketch: pick(Job::Sketch), index: pick(Job::Index), training: pick(Job::Training) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(job: Job, cpu_ms: f64, webgpu_ms: f64) -> JobTiming {
        JobTiming { job, cpu_ms, webgpu_ms }
    }

    #[test]
    fn a_software_adapter_keeps_every_job_on_the_cpu() {
        // This machine's figures (scripts/bench-browser.sh, SwiftShader).
        let choices = choose(&[
            timing(Job::Sketch, 6.3, 207.5),
            timing(Job::Index, 29.0, 2057.4),
            timing(Job::Training, 30.6, 3026.5),
        ]);
        assert!(choices.iter().all(|c| c.place == Place::Cpu), "{choices:?}");
        assert_eq!(choices[0].reason, "the CPU is 33× faster");
        assert_eq!(choices[0].label, "Sketch");
        assert_eq!((choices[0].cpu_ms, choices[0].webgpu_ms), (Some(6.3), Some(207.5)));
    }

    #[test]
    fn a_real_gpu_takes_the_batched_jobs_and_leaves_sketches_to_the_cpu() {
        // What a discrete GPU is expected to give: latency-bound sketches, throughput-bound batches.
        let choices =
            choose(&[timing(Job::Sketch, 3.0, 4.5), timing(Job::Index, 29.0, 3.0), timing(Job::Training, 30.0, 4.0)]);
        let places: Vec<Place> = choices.iter().map(|c| c.place).collect();
        assert_eq!(places, [Place::Cpu, Place::Webgpu, Place::Webgpu]);
        assert_eq!(choices[1].reason, "WebGPU is 9.7× faster");
        assert_eq!(choices[2].reason, "WebGPU is 7.5× faster");
        assert_eq!(choices[0].reason, "the CPU is 1.5× faster");
    }

    #[test]
    fn a_small_lead_does_not_move_a_job_and_a_broken_timing_never_wins() {
        let choices = choose(&[
            timing(Job::Sketch, 10.0, 9.0),
            timing(Job::Index, 10.0, 10.0 / WEBGPU_MARGIN),
            timing(Job::Training, 10.0, f64::NAN),
        ]);
        assert_eq!(choices[0].place, Place::Cpu);
        assert!(choices[0].reason.starts_with("WebGPU is only 1.1× faster"), "{}", choices[0].reason);
        assert_eq!(choices[1].place, Place::Webgpu, "exactly the margin is enough");
        assert_eq!(choices[2].place, Place::Cpu);
        assert_eq!(choices[2].reason, "WebGPU gave no usable timing");
        let cpu_failed = choose(&[timing(Job::Sketch, 0.0, 5.0)]);
        assert_eq!(cpu_failed[0].place, Place::Webgpu);
    }

    #[test]
    fn every_job_is_timed_on_both_devices() {
        let devices = crate::test_util::backends();
        let (cpu, other) = (&devices[0], devices.last().unwrap());
        let weights = VaeWeights::init(crate::VaeConfig::vae(32, 4, 1.0), 0).unwrap();
        let data = crate::test_util::small_dataset();
        let timings = crate::test_util::block_on(measure(cpu, other, &weights, &data)).unwrap();
        assert_eq!(timings.iter().map(|t| t.job).collect::<Vec<_>>(), Job::ALL);
        for t in &timings {
            assert!(t.cpu_ms > 0.0 && t.cpu_ms.is_finite() && t.webgpu_ms > 0.0 && t.webgpu_ms.is_finite(), "{t:?}");
        }
        assert_eq!(choose(&timings).len(), 3);
    }

    #[test]
    fn forced_places_every_job_and_unmeasured_jobs_stay_on_the_cpu() {
        let all = forced(Place::Webgpu, "chosen in the page");
        assert_eq!(all.iter().map(|c| c.job).collect::<Vec<_>>(), Job::ALL);
        assert!(all.iter().all(|c| c.place == Place::Webgpu && c.cpu_ms.is_none() && c.reason == "chosen in the page"));
        assert_eq!(place_of(&[], Job::Training), Place::Cpu);
    }
}
