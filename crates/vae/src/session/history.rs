//! The model's training history as the session keeps it beside the weights: a record per step and
//! per epoch's test, counted over the model's life across runs. The steps of a run since its last
//! epoch's end are the run's until its weights become the model (an epoch's end, Stop); a run that
//! ends without that (divergence) drops them with the weights they led to.

use super::{History, TrainProgress, TrainRecord};

/// The steps and epochs a model had when a run began: the run's own counts go on from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counted {
    pub(super) steps: u64,
    pub(super) epochs: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ModelHistory {
    pub(super) history: History,
    /// How many of the steps belong to the page's model; those after it are the run's.
    pub(super) model_steps: usize,
}

impl ModelHistory {
    /// A model's history and how many of its steps are the model's (the rest: its run's).
    pub(super) fn new(history: History, model_steps: usize) -> Self {
        ModelHistory { history, model_steps }
    }

    /// The lifetime counts a run begins from: the last step's and the last test's.
    pub(super) fn counted(&self) -> Counted {
        Counted {
            steps: self.history.steps.last().map_or(0, |r| r.step),
            epochs: self.history.tests.last().map_or(0, |r| r.epoch),
        }
    }

    /// The run's weights became the page's model: its steps are the model's.
    pub(super) fn model_reached(&mut self) {
        self.model_steps = self.history.steps.len();
    }

    /// The run ended without its weights becoming the model: its steps go.
    pub(super) fn run_dropped(&mut self) {
        self.history.steps.truncate(self.model_steps);
    }

    /// Keeps a step's progress (counted within a run that began at `counted`) as lifetime records
    /// in `progress`; an epoch's end makes them the model's.
    pub(super) fn step_done(&mut self, counted: Counted, progress: &mut TrainProgress) {
        let Some(report) = &progress.report else {
            return;
        };
        let record = TrainRecord {
            step: counted.steps + report.step,
            epoch: counted.epochs + report.epoch as u64 + 1,
            loss: report.parts.loss,
            recon: report.parts.recon,
            kl: report.parts.kl,
        };
        self.history.steps.push(record);
        if let Some(test) = &progress.test {
            let test = TrainRecord { loss: test.loss, recon: test.recon, kl: test.kl, ..record };
            self.history.tests.push(test);
            progress.test_record = Some(test);
            self.model_reached();
        }
        progress.record = Some(record);
    }
}
