//! The backends side by side: the cross-backend check, which backend runs each of the page's jobs,
//! and whether a GPU may take them (its self-test and warm-up). (Starting Burn's wgpu backend is
//! the base's `gpu`: the unit tests start it too.)

pub mod check;
pub mod placement;
pub mod readiness;
