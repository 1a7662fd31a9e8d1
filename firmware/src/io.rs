//! What the loop needs from its board: a clock, a page mover, the link, the dirty log.
//!
//! Waiting is embedded-hal 1.0's [`DelayNs`](embedded_hal::delay::DelayNs); everything else
//! is a small trait of this crate, because the embedded ecosystem has no standard one for it.
//! Each is implemented twice in this repository: for the mps2-an386 board (SysTick, a CPU
//! copy between two SRAM regions, a timer interrupt that dirties pages) and for the host
//! (a simulated clock and an in-memory VM).

use core::task::Poll;

use bda_core::{LinkSample, TickHz, Ticks};

/// A monotonic tick counter, extended to `u64` so that it never wraps in practice.
///
/// Hardware counters are narrower (SysTick counts 24 bits, DWT's cycle counter 32); the
/// board extends them by counting their wraps (see [`crate::ticks`]). The pacer and the
/// controller read time only through this.
pub trait Clock {
    /// The counter's frequency.
    fn tick_hz(&self) -> TickHz;
    /// The current tick. Never less than an earlier answer.
    fn now(&mut self) -> Ticks;
}

/// Moves one page of guest memory to the link: a DMA transfer, started and then polled.
///
/// The embedded ecosystem has no standard DMA trait (embedded-hal 1.0 dropped its
/// experimental one, and every HAL's DMA API is its own), so the loop asks for the least a
/// DMA engine can offer: start one transfer, poll until it is done. One transfer is in flight
/// at a time; the pacer, not queue depth, sets the rate. A board with descriptor rings
/// implements this over one descriptor per page.
pub trait PageTransfer {
    /// Why a transfer failed.
    type Error: core::fmt::Debug;

    /// Starts sending page `page` (an index below the VM's page count).
    fn start(&mut self, page: u64) -> Result<(), Self::Error>;

    /// Whether the transfer in flight has finished: `Ready(Ok(()))` when the page has left,
    /// `Ready(Err(_))` when it failed, `Pending` while it runs. After `Ready` no transfer is
    /// in flight.
    fn poll(&mut self) -> Poll<Result<(), Self::Error>>;
}

/// Checks, after the migration, that the destination holds a page exactly as the source does.
///
/// On a real link the destination sends back a checksum per page (or per range); in the
/// examples the two memories sit side by side and are compared byte by byte.
pub trait VerifyPage {
    /// Whether the destination's copy of page `page` equals the source's.
    fn page_matches(&mut self, page: u64) -> bool;
}

/// The link the migration shares: its capacity, and the traffic on it that is not this VM's.
pub trait LinkMonitor {
    /// The link at tick `now`. `other_usage` should count neither the migration stream nor
    /// the VM's own service traffic (see [`LinkSample`]).
    fn sample(&mut self, now: Ticks) -> LinkSample;
}

/// The source VM's dirty log: which pages the guest wrote since the last read.
pub trait DirtyLog {
    /// Ors into `bitmap` one bit per page written since the last call (page `p` is bit
    /// `p % 64` of word `p / 64`), and clears the log. The loop calls it once before round 1
    /// to start from a clean log.
    fn take(&mut self, bitmap: &mut [u64]);

    /// Pauses the guest for stop-and-copy: once it returns, no page is written any more, and
    /// the next [`take`](Self::take) returns the last writes.
    fn pause_guest(&mut self);
}

/// A [`PageTransfer`] wrapper that injects faults, to test that the loop survives them (in
/// the spirit of smoltcp's `FaultInjector`): attempts can fail, and transfers can stall.
#[derive(Debug)]
pub struct FaultInjector<T> {
    inner: T,
    /// Fail every `fail_every`-th start (0: never).
    fail_every: u32,
    /// From this many starts on, every transfer stalls: it never completes (0: never).
    stall_after: u32,
    starts: u32,
    stalled: bool,
}

/// The error of a transfer that a [`FaultInjector`] failed on purpose, or of the inner one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InjectedError<E> {
    /// A fault the injector made up.
    Injected,
    /// The inner transfer's own error.
    Inner(E),
}

impl<E: core::fmt::Debug> core::fmt::Display for InjectedError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Injected => write!(f, "a fault injected on purpose"),
            Self::Inner(e) => write!(f, "{e:?}"),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for InjectedError<E> {}

impl<T: PageTransfer> FaultInjector<T> {
    /// Wraps `inner`, failing every `fail_every`-th start (0: never) and stalling every
    /// transfer from start number `stall_after` on (0: never).
    pub const fn new(inner: T, fail_every: u32, stall_after: u32) -> Self {
        Self { inner, fail_every, stall_after, starts: 0, stalled: false }
    }

    /// The wrapped transfer.
    pub const fn inner(&self) -> &T {
        &self.inner
    }

    /// How many starts were asked for, including the failed ones.
    pub const fn starts(&self) -> u32 {
        self.starts
    }
}

impl<T: PageTransfer> PageTransfer for FaultInjector<T> {
    type Error = InjectedError<T::Error>;

    fn start(&mut self, page: u64) -> Result<(), Self::Error> {
        self.starts = self.starts.saturating_add(1);
        if self.stall_after != 0 && self.starts >= self.stall_after {
            self.stalled = true;
            return Ok(());
        }
        if self.fail_every != 0 && self.starts.is_multiple_of(self.fail_every) {
            return Err(InjectedError::Injected);
        }
        self.inner.start(page).map_err(InjectedError::Inner)
    }

    fn poll(&mut self) -> Poll<Result<(), Self::Error>> {
        if self.stalled {
            return Poll::Pending;
        }
        self.inner.poll().map(|done| done.map_err(InjectedError::Inner))
    }
}

/// Verification passes through to the wrapped transfer: the injector breaks transfers, not
/// the destination's memory.
impl<T: VerifyPage> VerifyPage for FaultInjector<T> {
    fn page_matches(&mut self, page: u64) -> bool {
        self.inner.page_matches(page)
    }
}
