//! The live-handle counter, for the leak test: every closure and listener the drivers hold
//! counts while it exists. Reconnecting must not make the count grow.
use std::cell::Cell;

thread_local! {
    static LIVE_HANDLES: Cell<usize> = const { Cell::new(0) };
}

/// The number of closures and listeners the drivers currently hold (socket handlers, window
/// listeners, armed timers, pending URL promises). Reconnecting must not make it grow.
pub(crate) fn live_handles() -> usize {
    LIVE_HANDLES.with(Cell::get)
}

/// Counts `n` live handles from creation until drop.
pub(super) struct Live(usize);

impl Live {
    pub(super) fn new(n: usize) -> Live {
        LIVE_HANDLES.with(|c| c.set(c.get() + n));
        Live(n)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE_HANDLES.with(|c| c.set(c.get() - self.0));
    }
}
