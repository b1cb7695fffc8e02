//! The backends side by side: the cross-backend check, and which backend runs each of the page's
//! jobs. (Starting Burn's wgpu backend is the base's `gpu`: the unit tests start it too.)

pub mod check;
pub mod placement;
