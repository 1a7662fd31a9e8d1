//! The migration loop: rounds of paced page transfers, decided by bda-core.
//!
//! ```text
//! take the dirty log once (start clean); send set = every page
//! loop, one round at a time:
//!     link  <- LinkMonitor::sample            controller.begin_round -> rate, rule
//!     for each page in the send set:
//!         wait (DelayNs) until the pacer releases it; every `reassess_every_us` the link is
//!         sampled again and the controller reassesses the rate
//!         PageTransfer::start, then poll until done (retry a failed attempt, give up
//!         after a timeout)
//!     dirty <- DirtyLog::take                 controller.end_round -> live, stop, done
//!     stop-and-copy next: DirtyLog::pause_guest, take the last writes
//!     predictor.plan_round(dirty) -> the next send set (likely re-dirtied pages deferred)
//! verify every page (VerifyPage): any mismatch fails the migration
//! ```
//!
//! Everything lives in the caller's memory: the controller, predictor and pacer are values
//! on the stack, and the bitmaps and the predictor's history are carved out of one
//! caller-provided `&mut [u64]` ([`workspace_words`]). Nothing allocates and nothing panics.

use core::fmt;
use core::task::Poll;

use bda_core::{
    Allocation, Bytes, BytesPerSec, Controller, ControllerConfig, ControllerConfigError, ControllerError, Next, Pacer,
    PacerConfig, PacerConfigError, PageSize, Policy, Predictor, PredictorConfig, PredictorConfigError, PredictorError,
    PredictorRound, Release, RoundKind, RoundReport, RoundVerdict, Summary, Telemetry, TickHz, Ticks,
};
use embedded_hal::delay::DelayNs;

use crate::io::{Clock, DirtyLog, LinkMonitor, PageTransfer, VerifyPage};

/// The settings of one migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MigrationConfig {
    /// The round controller's settings: memory size, page size, the clock's frequency (which
    /// must be the [`Clock`]'s), stop conditions.
    pub controller: ControllerConfig,
    /// The PPC predictor's settings.
    pub predictor: PredictorConfig,
    /// How often to sample the link and reassess the rate within a round, in microseconds
    /// (default 100 ms).
    pub reassess_every_us: u64,
    /// How long to wait between two polls of a transfer in flight, in nanoseconds
    /// (default 1 µs).
    pub poll_interval_ns: u32,
    /// Give up on a transfer that has not completed after this long, in microseconds
    /// (default 100 ms).
    pub transfer_timeout_us: u64,
    /// Attempts per page before a failing transfer fails the migration (default 3).
    pub max_attempts: u8,
}

impl MigrationConfig {
    /// The defaults for a VM of `memory` bytes of 4 KiB pages, timed by a clock of `tick_hz`.
    pub fn new(memory: Bytes, tick_hz: TickHz) -> Self {
        Self {
            controller: ControllerConfig::new(memory, tick_hz),
            predictor: PredictorConfig::default(),
            reassess_every_us: 100_000,
            poll_interval_ns: 1_000,
            transfer_timeout_us: 100_000,
            max_attempts: 3,
        }
    }

    /// The VM's pages.
    pub fn pages(&self) -> u64 {
        self.controller.memory.0.checked_div(self.controller.page_size.bytes()).unwrap_or(0)
    }

    /// The page size.
    pub const fn page_size(&self) -> PageSize {
        self.controller.page_size
    }

    /// Checks every rule of this crate's own fields and the memory's layout (the kernel's
    /// configs are checked by the kernel); returns the first broken one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let page = self.controller.page_size.bytes();
        if self.controller.memory.0 == 0 || !self.controller.memory.0.is_multiple_of(page) {
            return Err(ConfigError::MemoryNotWholePages);
        }
        if self.reassess_every_us == 0 {
            return Err(ConfigError::ReassessIntervalZero);
        }
        if self.transfer_timeout_us == 0 {
            return Err(ConfigError::TransferTimeoutZero);
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::MaxAttemptsZero);
        }
        Ok(())
    }
}

/// The most `u64` words of workspace a migration of `pages` pages needs under any predictor
/// configuration: three bitmaps (dirty, send, pending) and up to 12 predictor planes, one
/// word each per 64 pages. A `const fn`, so a board can size a static with it.
pub const fn workspace_words(pages: usize) -> usize {
    pages.div_ceil(64).saturating_mul(15)
}

/// Why a migration could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// The memory size is zero or not a whole number of pages.
    MemoryNotWholePages,
    /// `reassess_every_us` is zero.
    ReassessIntervalZero,
    /// `transfer_timeout_us` is zero.
    TransferTimeoutZero,
    /// `max_attempts` is zero.
    MaxAttemptsZero,
    /// The controller's `tick_hz` is not the clock's.
    ClockMismatch,
    /// The workspace is shorter than the migration needs.
    WorkspaceTooSmall {
        /// Words needed.
        needed: usize,
    },
    /// The controller refused its configuration.
    Controller(ControllerConfigError),
    /// The predictor refused its configuration.
    Predictor(PredictorConfigError),
    /// The pacer refused its configuration.
    Pacer(PacerConfigError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MemoryNotWholePages => write!(f, "the memory size is zero or not a whole number of pages"),
            Self::ReassessIntervalZero => write!(f, "the reassessment interval is zero"),
            Self::TransferTimeoutZero => write!(f, "the transfer timeout is zero"),
            Self::MaxAttemptsZero => write!(f, "the number of attempts per page is zero"),
            Self::ClockMismatch => write!(f, "the controller's tick frequency is not the clock's"),
            Self::WorkspaceTooSmall { needed } => write!(f, "the workspace is too small: {needed} words needed"),
            Self::Controller(e) => e.fmt(f),
            Self::Predictor(e) => e.fmt(f),
            Self::Pacer(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Why a migration failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// It could not start.
    Config(ConfigError),
    /// A page's transfer failed on every attempt.
    Transfer {
        /// The page.
        page: u64,
        /// The last attempt's error.
        error: E,
    },
    /// A page's transfer did not complete within the timeout.
    TransferTimedOut {
        /// The page.
        page: u64,
    },
    /// The migration rate stayed at zero longer than the controller's stall time.
    Stalled {
        /// The round it stalled in.
        round: u32,
    },
    /// The migration completed but the destination differs from the source.
    PagesLost {
        /// How many pages differ.
        pages: u64,
        /// The first of them.
        first: u64,
    },
    /// The controller refused a call (a bug in this loop, reported rather than hidden).
    Controller(ControllerError),
    /// The predictor refused a call (a bug in this loop, reported rather than hidden).
    Predictor(PredictorError),
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "cannot start: {e}"),
            Self::Transfer { page, error } => write!(f, "page {page} failed on every attempt: {error:?}"),
            Self::TransferTimedOut { page } => write!(f, "page {page}: the transfer timed out"),
            Self::Stalled { round } => write!(f, "round {round}: the migration rate stayed at zero"),
            Self::PagesLost { pages, first } => {
                write!(f, "the destination differs from the source in {pages} pages (first: page {first})")
            }
            Self::Controller(e) => write!(f, "controller: {e}"),
            Self::Predictor(e) => write!(f, "predictor: {e}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

impl<E> From<ConfigError> for Error<E> {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl<E> From<ControllerError> for Error<E> {
    fn from(e: ControllerError) -> Self {
        Self::Controller(e)
    }
}

impl<E> From<PredictorError> for Error<E> {
    fn from(e: PredictorError) -> Self {
        Self::Predictor(e)
    }
}

/// One round, as it went: what the firmware logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RoundLog {
    /// First, live or stop-and-copy.
    pub kind: RoundKind,
    /// The allocation when the round began (rule, free, reserved, migration rate).
    pub allocation: Allocation,
    /// Pages sent.
    pub pages_sent: u64,
    /// Dirty pages the predictor held back from this round (they stay pending).
    pub pages_deferred: u64,
    /// Pages the guest dirtied while the round ran.
    pub pages_dirtied: u64,
    /// Transfer attempts that failed and were retried.
    pub retries: u32,
    /// Times the link was sampled again and the rate reassessed during the round.
    pub reassessments: u32,
    /// The round's duration.
    pub elapsed: Ticks,
    /// Bytes sent.
    pub sent: Bytes,
    /// The bytes the allocated rate allowed over the round: the integral of the rate (which
    /// reassessments may change) over its duration, rounded down.
    pub allocated: Bytes,
    /// The controller's verdict at the round's end (round number, dirty rate, what next).
    pub verdict: RoundVerdict,
}

impl RoundLog {
    /// The rate achieved: bytes sent over the round's duration (zero for an empty round).
    pub fn achieved_rate(&self, tick_hz: TickHz) -> BytesPerSec {
        BytesPerSec::from_bytes_over(self.sent, self.elapsed, tick_hz).unwrap_or(BytesPerSec::ZERO)
    }

    /// The mean allocated rate over the round (the integral of the rate over its duration).
    pub fn allocated_rate(&self, tick_hz: TickHz) -> BytesPerSec {
        BytesPerSec::from_bytes_over(self.allocated, self.elapsed, tick_hz).unwrap_or(BytesPerSec::ZERO)
    }

    /// `|sent - allocated|` in bytes: how far the pacer strayed from the rate over the round.
    /// For a sender that always has a page ready, bda-core's pacer keeps this within its
    /// burst plus one page.
    pub const fn pace_error(&self) -> u64 {
        self.sent.0.abs_diff(self.allocated.0)
    }
}

/// A finished, verified migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Outcome {
    /// The controller's summary: rounds, bytes, total time, downtime, why it stopped.
    pub summary: Summary,
    /// What the controller clamped along the way.
    pub telemetry: Telemetry,
    /// Pages found identical at the destination (all of them).
    pub pages_verified: u64,
}

/// Receives the migration's progress; the board logs it with defmt, the host prints a table.
pub trait Observer {
    /// A round ended.
    fn round(&mut self, log: &RoundLog) {
        let _ = log;
    }
    /// The stop-and-copy round ended; verification comes next.
    fn complete(&mut self, summary: &Summary, telemetry: &Telemetry) {
        let _ = (summary, telemetry);
    }
}

/// An observer that ignores everything.
impl Observer for () {}

/// What the loop drives: the clock, the delay, the page mover, the link, the dirty log.
#[derive(Debug)]
pub struct Environment<C, D, T, L, G> {
    /// The tick counter the pacer and the controller run on.
    pub clock: C,
    /// How the loop waits for the pacer (and between polls of a transfer).
    pub delay: D,
    /// Moves pages, and checks them at the end.
    pub transfer: T,
    /// The link's capacity and other traffic.
    pub link: L,
    /// The source's dirty log.
    pub dirty_log: G,
}

/// The three bitmaps and the predictor's storage, carved out of the caller's workspace.
struct Buffers<'w> {
    dirty: &'w mut [u64],
    send: &'w mut [u64],
    pending: &'w mut [u64],
    predictor: &'w mut [u64],
}

impl<'w> Buffers<'w> {
    fn carve(workspace: &'w mut [u64], words: usize, predictor_words: usize) -> Result<Self, ConfigError> {
        let needed = words.saturating_mul(3).saturating_add(predictor_words);
        let too_small = ConfigError::WorkspaceTooSmall { needed };
        let workspace = workspace.get_mut(..needed).ok_or(too_small)?;
        let (dirty, rest) = workspace.split_at_mut_checked(words).ok_or(too_small)?;
        let (send, rest) = rest.split_at_mut_checked(words).ok_or(too_small)?;
        let (pending, predictor) = rest.split_at_mut_checked(words).ok_or(too_small)?;
        Ok(Self { dirty, send, pending, predictor })
    }
}

/// The running round's pacing and accounting.
struct RoundClock {
    pacer: Pacer,
    reassess_every: Ticks,
    next_reassess: Ticks,
    /// The rate in force since `segment_start`.
    rate: BytesPerSec,
    segment_start: Ticks,
    /// The integral of the rate over the round so far, in bytes x tick_hz.
    allocated_scaled: u128,
    reassessments: u32,
}

impl RoundClock {
    /// Closes the current rate segment at `now` and starts one at `rate`.
    fn set_rate(&mut self, rate: BytesPerSec, now: Ticks) {
        let span = now.saturating_sub(self.segment_start);
        let bytes_scaled = u128::from(self.rate.0).saturating_mul(u128::from(span.0));
        self.allocated_scaled = self.allocated_scaled.saturating_add(bytes_scaled);
        self.segment_start = now;
        self.rate = rate;
        self.pacer.set_rate(rate, now);
    }

    fn begin(&mut self, rate: BytesPerSec, now: Ticks) {
        self.allocated_scaled = 0;
        self.reassessments = 0;
        self.segment_start = now;
        self.rate = rate;
        self.next_reassess = now.saturating_add(self.reassess_every);
        self.pacer.set_rate(rate, now);
    }
}

/// Migrates a VM's memory: rounds of paced page transfers until the controller completes
/// the migration, then a page-by-page check of the destination.
///
/// `workspace` holds at least [`workspace_words`]`(pages)` words. The policy decides each
/// round's rate ([`bda_core::AnyPolicy::bda`] for BDA). Every round is reported to
/// `observer`, and the summary before verification.
///
/// Returns the outcome of a complete migration whose destination matches its source; any
/// lost page, failed or stalled transfer, or stall of the rate is an [`Error`].
pub fn migrate<P, C, D, T, L, G, O>(
    config: &MigrationConfig,
    policy: P,
    workspace: &mut [u64],
    env: &mut Environment<C, D, T, L, G>,
    observer: &mut O,
) -> Result<Outcome, Error<T::Error>>
where
    P: Policy + Clone,
    C: Clock,
    D: DelayNs,
    T: PageTransfer + VerifyPage,
    L: LinkMonitor,
    G: DirtyLog,
    O: Observer,
{
    config.validate()?;
    let tick_hz = env.clock.tick_hz();
    if tick_hz != config.controller.tick_hz {
        return Err(ConfigError::ClockMismatch.into());
    }
    let pages = config.pages();
    let page_bytes = config.page_size().bytes();
    let mut controller: Controller<P> = Controller::new(config.controller, policy).map_err(ConfigError::Controller)?;
    let mut predictor = Predictor::new(config.predictor, pages).map_err(ConfigError::Predictor)?;
    let words = predictor.bitmap_words();
    let buffers = Buffers::carve(workspace, words, predictor.storage_words())?;
    predictor.init_storage(buffers.predictor)?;
    let now = env.clock.now();
    let pacer =
        Pacer::new(PacerConfig::new(tick_hz, page_bytes), BytesPerSec::ZERO, now).map_err(ConfigError::Pacer)?;
    let reassess_every = Ticks::from_micros(config.reassess_every_us, tick_hz).max(Ticks(1));
    let timeout = Ticks::from_micros(config.transfer_timeout_us, tick_hz).max(Ticks(1));
    let mut round_clock = RoundClock {
        pacer,
        reassess_every,
        next_reassess: now,
        rate: BytesPerSec::ZERO,
        segment_start: now,
        allocated_scaled: 0,
        reassessments: 0,
    };

    // Round 1 sends every page; start the dirty log from clean.
    buffers.pending.fill(0);
    buffers.dirty.fill(0);
    env.dirty_log.take(buffers.dirty);
    fill_pages(buffers.send, pages);
    let mut deferred_now = 0_u64;

    loop {
        let now = env.clock.now();
        let plan = controller.begin_round(env.link.sample(now), now)?;
        round_clock.begin(plan.allocation.migration, now);
        let start = now;
        let mut pages_sent = 0_u64;
        let mut retries = 0_u32;

        for (index, &word) in buffers.send.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let page = page_index(index, bits.trailing_zeros());
                bits &= bits.wrapping_sub(1);
                let mut attempt = 1_u8;
                loop {
                    wait_for_release(&mut round_clock, &mut controller, env)?;
                    match transfer_page(page, timeout, config.poll_interval_ns, env) {
                        Ok(()) => break,
                        Err(error @ Error::Transfer { .. }) if attempt >= config.max_attempts => return Err(error),
                        Err(Error::Transfer { .. }) => {
                            attempt = attempt.saturating_add(1);
                            retries = retries.saturating_add(1);
                        }
                        Err(error) => return Err(error),
                    }
                }
                pages_sent = pages_sent.saturating_add(1);
            }
        }

        let now = env.clock.now();
        round_clock.set_rate(round_clock.rate, now);
        buffers.dirty.fill(0);
        env.dirty_log.take(buffers.dirty);
        let dirtied = count(buffers.dirty);
        let remaining = buffers
            .dirty
            .iter()
            .zip(buffers.pending.iter())
            .fold(0_u64, |n, (d, p)| n.saturating_add(count_word(d | p)));
        let report = RoundReport {
            sent: pages_bytes(pages_sent, page_bytes),
            dirtied: pages_bytes(dirtied, page_bytes),
            remaining: pages_bytes(remaining, page_bytes),
        };
        let verdict = controller.end_round(report, now)?;
        let log = RoundLog {
            kind: plan.kind,
            allocation: plan.allocation,
            pages_sent,
            pages_deferred: deferred_now,
            pages_dirtied: dirtied,
            retries,
            reassessments: round_clock.reassessments,
            elapsed: now.saturating_sub(start),
            sent: report.sent,
            allocated: Bytes(
                u64::try_from(round_clock.allocated_scaled.checked_div(u128::from(tick_hz.0)).unwrap_or(0))
                    .unwrap_or(u64::MAX),
            ),
            verdict,
        };
        observer.round(&log);

        let round = match verdict.next {
            Next::Complete => break,
            Next::Live => PredictorRound::Live,
            Next::StopAndCopy => {
                // The VM stops; its last writes join this round's.
                env.dirty_log.pause_guest();
                env.dirty_log.take(buffers.dirty);
                PredictorRound::StopAndCopy
            }
        };
        let plan = predictor.plan_round(buffers.predictor, buffers.dirty, buffers.send, round)?;
        deferred_now = plan.deferred.0;
        for ((pending, dirty), send) in buffers.pending.iter_mut().zip(buffers.dirty.iter()).zip(buffers.send.iter()) {
            *pending = (*pending | dirty) & !send;
        }
    }

    let summary = controller.summary().ok_or(Error::Controller(ControllerError::NoRoundInProgress))?;
    let telemetry = *controller.telemetry();
    observer.complete(&summary, &telemetry);
    verify(pages, &mut env.transfer)?;
    Ok(Outcome { summary, telemetry, pages_verified: pages })
}

/// Waits until the pacer releases the next page, reassessing the rate on schedule.
fn wait_for_release<P, C, D, T, L, G>(
    round_clock: &mut RoundClock,
    controller: &mut Controller<P>,
    env: &mut Environment<C, D, T, L, G>,
) -> Result<(), Error<T::Error>>
where
    P: Policy + Clone,
    C: Clock,
    D: DelayNs,
    T: PageTransfer,
    L: LinkMonitor,
{
    loop {
        let now = env.clock.now();
        if now >= round_clock.next_reassess {
            let plan = controller.reassess(env.link.sample(now), now)?;
            if plan.events.stalled {
                return Err(Error::Stalled { round: plan.round });
            }
            round_clock.set_rate(plan.allocation.migration, now);
            round_clock.reassessments = round_clock.reassessments.saturating_add(1);
            round_clock.next_reassess = now.saturating_add(round_clock.reassess_every);
        }
        let until = match round_clock.pacer.try_release(now) {
            Release::Now => return Ok(()),
            Release::NotBefore(tick) => tick.min(round_clock.next_reassess),
            Release::Blocked => round_clock.next_reassess,
        };
        env.delay.delay_ns(nanos_until(now, until, env.clock.tick_hz()));
    }
}

/// Sends one page: starts the transfer and polls it to completion or timeout.
fn transfer_page<C, D, T, L, G>(
    page: u64,
    timeout: Ticks,
    poll_interval_ns: u32,
    env: &mut Environment<C, D, T, L, G>,
) -> Result<(), Error<T::Error>>
where
    C: Clock,
    D: DelayNs,
    T: PageTransfer,
{
    let started = env.clock.now();
    env.transfer.start(page).map_err(|error| Error::Transfer { page, error })?;
    loop {
        match env.transfer.poll() {
            Poll::Ready(result) => return result.map_err(|error| Error::Transfer { page, error }),
            Poll::Pending if env.clock.now().saturating_sub(started) >= timeout => {
                return Err(Error::TransferTimedOut { page });
            }
            Poll::Pending => env.delay.delay_ns(poll_interval_ns),
        }
    }
}

/// Compares every page; fails on the first count of mismatches.
fn verify<T: PageTransfer + VerifyPage>(pages: u64, transfer: &mut T) -> Result<(), Error<T::Error>> {
    let mut lost = 0_u64;
    let mut first = 0_u64;
    for page in 0..pages {
        if !transfer.page_matches(page) {
            if lost == 0 {
                first = page;
            }
            lost = lost.saturating_add(1);
        }
    }
    if lost == 0 { Ok(()) } else { Err(Error::PagesLost { pages: lost, first }) }
}

/// Nanoseconds from `now` to `until` on a `tick_hz` clock, rounded up (so a wait never ends
/// before the tick), at least 1 and at most `u32::MAX` (the loop asks again after).
fn nanos_until(now: Ticks, until: Ticks, tick_hz: TickHz) -> u32 {
    let ticks = u128::from(until.saturating_sub(now).0);
    let nanos = ticks.saturating_mul(1_000_000_000).div_ceil(u128::from(tick_hz.0.max(1)));
    u32::try_from(nanos).unwrap_or(u32::MAX).max(1)
}

/// Sets the first `pages` bits of `bitmap` and clears the rest.
fn fill_pages(bitmap: &mut [u64], pages: u64) {
    let mut left = pages;
    for word in bitmap {
        *word = match left {
            0 => 0,
            1..=63 => u64::MAX >> 64_u64.saturating_sub(left),
            _ => u64::MAX,
        };
        left = left.saturating_sub(64);
    }
}

/// The page at bit `bit` of bitmap word `index`.
fn page_index(index: usize, bit: u32) -> u64 {
    u64::try_from(index).unwrap_or(u64::MAX).saturating_mul(64).saturating_add(u64::from(bit))
}

fn count_word(word: u64) -> u64 {
    u64::from(word.count_ones())
}

fn count(bitmap: &[u64]) -> u64 {
    bitmap.iter().fold(0_u64, |n, &w| n.saturating_add(count_word(w)))
}

fn pages_bytes(pages: u64, page_bytes: u64) -> Bytes {
    Bytes(pages.saturating_mul(page_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_and_stay_in_range() {
        let hz = TickHz(25_000_000);
        assert_eq!(nanos_until(Ticks(0), Ticks(25), hz), 1_000);
        assert_eq!(nanos_until(Ticks(0), Ticks(1), hz), 40);
        assert_eq!(nanos_until(Ticks(0), Ticks(1), TickHz(3)), 333_333_334);
        assert_eq!(nanos_until(Ticks(10), Ticks(5), hz), 1); // already due: ask again at once
        assert_eq!(nanos_until(Ticks(0), Ticks::MAX, hz), u32::MAX);
    }

    #[test]
    fn round_one_marks_exactly_the_pages() {
        let mut bitmap = [7_u64; 3];
        fill_pages(&mut bitmap, 70);
        assert_eq!(bitmap, [u64::MAX, 0b11_1111, 0]);
        fill_pages(&mut bitmap, 128);
        assert_eq!(bitmap, [u64::MAX, u64::MAX, 0]);
        assert_eq!(count(&bitmap), 128);
        assert_eq!(page_index(2, 5), 133);
    }

    #[test]
    fn workspace_covers_every_predictor_setting() {
        let config = PredictorConfig { history_rounds: 8, max_consecutive_deferrals: 15, ..Default::default() };
        for pages in [1_usize, 64, 65, 1_000] {
            let predictor = Predictor::new(config, u64::try_from(pages).unwrap()).unwrap();
            let needed = 3 * predictor.bitmap_words() + predictor.storage_words();
            assert_eq!(workspace_words(pages), needed);
        }
    }

    #[test]
    fn config_rules() {
        let ok = MigrationConfig::new(Bytes(8192), TickHz::MICROS);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.pages(), 2);
        let bad = |f: fn(&mut MigrationConfig)| {
            let mut config = ok;
            f(&mut config);
            config.validate()
        };
        assert_eq!(bad(|c| c.controller.memory = Bytes(0)), Err(ConfigError::MemoryNotWholePages));
        assert_eq!(bad(|c| c.controller.memory = Bytes(4097)), Err(ConfigError::MemoryNotWholePages));
        assert_eq!(bad(|c| c.reassess_every_us = 0), Err(ConfigError::ReassessIntervalZero));
        assert_eq!(bad(|c| c.transfer_timeout_us = 0), Err(ConfigError::TransferTimeoutZero));
        assert_eq!(bad(|c| c.max_attempts = 0), Err(ConfigError::MaxAttemptsZero));
    }
}
