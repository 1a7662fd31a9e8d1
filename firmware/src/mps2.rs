//! The board: QEMU's `mps2-an386` (Cortex-M4F at 25 MHz), run under semihosting.
//!
//! - **Clock and delay**: SysTick reloads every millisecond (24,999 at 25 MHz); its exception
//!   counts the periods, and [`SysTickClock`] extends the 24-bit counter to `u64` ticks
//!   (see `firmware::ticks`). Waiting is a busy wait on that clock, behind `DelayNs`.
//! - **"DMA"**: QEMU's MPS2 has no DMA model, so [`CpuCopyDma`] copies a 4 KiB page from the
//!   guest's memory to the destination's, both in SRAM, with interrupts masked (so the guest
//!   never writes half a page under it); the copy is done when `start` returns.
//! - **Guest**: the same SysTick exception runs the workload every millisecond, writing pages
//!   and marking them in the dirty log, until the loop pauses it for stop-and-copy.
//! - **Link**: a synthetic 20 Mbit/s link carrying 4 Mbit/s of other traffic, 12 Mbit/s for
//!   300 ms of every second.
//!
//! It migrates the guest three times, under the idle, busy and bursty workloads, with BDA (or
//! BDA+ with the `bda-plus` feature), logs each round with defmt, and exits QEMU with status
//! 0 only when all three completed and the destination matched the source page for page.

use core::cell::{Cell, RefCell};
use core::task::Poll;

use bda_core::{AnyPolicy, BdaPlus, Bytes, BytesPerSec, LinkSample, Summary, Telemetry, TickHz, Ticks};
use cortex_m::interrupt::{Mutex, free};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::debug;
use defmt_semihosting as _;
use embedded_hal::delay::DelayNs;
use firmware::io::{Clock, DirtyLog, LinkMonitor, PageTransfer, VerifyPage};
use firmware::ticks::DownCounter;
use firmware::workload::{Pattern, Workload, fill_initial, mark_dirty, write_into};
use firmware::{Environment, Error, MigrationConfig, Observer, RoundLog, migrate, workspace_words};

/// Guest memory: 128 pages of 4 KiB (512 KiB of the board's 4 MiB of SRAM, and as much again
/// for the destination).
const PAGES: usize = 128;
const PAGE_BYTES: usize = 4096;
const PAGE_BYTES_U64: u64 = 4096;
const WORDS: usize = PAGES.div_ceil(64);
/// SysTick runs on the 25 MHz processor clock and reloads every millisecond.
const TICK_HZ: TickHz = TickHz(25_000_000);
const RELOAD: u32 = 24_999;
/// The busy workload's nominal page writes per second, and its hot set.
const WRITES_PER_SEC: u64 = 400;
const HOT_PAGES: u64 = 32;
/// The page the `lose-page` build's "DMA" drops.
const LOST_PAGE: Option<usize> = if cfg!(feature = "lose-page") { Some(5) } else { None };

type Memory = [[u8; PAGE_BYTES]; PAGES];

/// The source VM's memory. Shared with the SysTick exception, which writes it.
static GUEST_MEMORY: Mutex<RefCell<Memory>> = Mutex::new(RefCell::new([[0; PAGE_BYTES]; PAGES]));
/// Where the migration copies to.
static DESTINATION_MEMORY: Mutex<RefCell<Memory>> = Mutex::new(RefCell::new([[0; PAGE_BYTES]; PAGES]));
/// The guest's workload and dirty log; `None` while no migration runs.
static GUEST: Mutex<RefCell<Option<Guest>>> = Mutex::new(RefCell::new(None));
/// SysTick periods (milliseconds) since boot: the upper part of the extended clock.
static PERIODS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

struct Guest {
    workload: Workload,
    /// The millisecond the workload started at.
    start_ms: u64,
    dirty: [u64; WORDS],
    paused: bool,
}

#[entry]
fn main() -> ! {
    let Some(mut core) = cortex_m::Peripherals::take() else {
        defmt::error!("core peripherals already taken");
        exit(false);
    };
    start_systick(&mut core.SYST);
    defmt::info!(
        "bda firmware on mps2-an386: {=usize} pages of {=usize} B, link 20 Mbit/s, SysTick {=u64} Hz",
        PAGES,
        PAGE_BYTES,
        TICK_HZ.0
    );
    let mut all_verified = true;
    for pattern in Pattern::ALL {
        all_verified &= migrate_once(pattern);
    }
    if all_verified {
        defmt::info!("all migrations complete and verified");
    }
    exit(all_verified)
}

/// Migrates the guest once under `pattern`; whether it completed and verified.
fn migrate_once(pattern: Pattern) -> bool {
    reset_memories();
    let start_ms = free(|cs| PERIODS.borrow(cs).get());
    let guest = Guest {
        workload: Workload::new(pattern, pages_u64(), HOT_PAGES, WRITES_PER_SEC),
        start_ms,
        dirty: [0; WORDS],
        paused: false,
    };
    free(|cs| GUEST.borrow(cs).replace(Some(guest)));
    // Literal names: an argument would cost the BDA build flash for nothing.
    if cfg!(feature = "bda-plus") {
        defmt::info!("migration: workload {=str}, policy BDA+", pattern.name());
    } else {
        defmt::info!("migration: workload {=str}, policy BDA", pattern.name());
    }

    let mut config = MigrationConfig::new(Bytes(pages_u64().saturating_mul(PAGE_BYTES_U64)), TICK_HZ);
    // A 512 KiB VM on a 2 MB/s link: the QEMU and Xen defaults (300 ms, 50 pages) would stop
    // after round 1; 10 ms of downtime and no page floor make it iterate.
    config.controller.stop.downtime_target_us = Some(10_000);
    config.controller.stop.min_remaining_pages = None;
    let mut workspace = [0_u64; workspace_words(PAGES)];
    let mut env = Environment {
        clock: SysTickClock,
        delay: SysTickClock,
        transfer: CpuCopyDma { in_flight: None },
        link: SyntheticLink,
        dirty_log: GuestDirtyLog,
    };
    let result = migrate(&config, policy(), &mut workspace, &mut env, &mut DefmtLog);
    free(|cs| GUEST.borrow(cs).replace(None));
    match result {
        Ok(outcome) => {
            defmt::info!("verified: all {=u64} pages match ({=str})", outcome.pages_verified, pattern.name());
            true
        }
        Err(Error::PagesLost { pages, first }) => {
            defmt::error!("LOST: {=u64} pages differ, first page {=u64} ({=str})", pages, first, pattern.name());
            false
        }
        Err(error) => {
            defmt::error!("migration failed ({=str}): {}", pattern.name(), defmt::Debug2Format(&error));
            false
        }
    }
}

/// BDA, or BDA+ with its defaults (feature `bda-plus`).
fn policy() -> AnyPolicy {
    if cfg!(feature = "bda-plus") { AnyPolicy::BdaPlus(BdaPlus::default()) } else { AnyPolicy::bda() }
}

fn pages_u64() -> u64 {
    u64::try_from(PAGES).unwrap_or(u64::MAX)
}

/// Fills the guest's pages with a pattern distinct per page and clears the destination.
fn reset_memories() {
    free(|cs| {
        if let Ok(mut guest) = GUEST_MEMORY.borrow(cs).try_borrow_mut() {
            for (page, bytes) in (0..).zip(guest.iter_mut()) {
                fill_initial(page, bytes);
            }
        }
        if let Ok(mut destination) = DESTINATION_MEMORY.borrow(cs).try_borrow_mut() {
            for bytes in destination.iter_mut() {
                bytes.fill(0);
            }
        }
    });
}

fn start_systick(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Every millisecond: count the period, and let the guest write.
#[exception]
fn SysTick() {
    free(|cs| {
        let periods = PERIODS.borrow(cs);
        periods.set(periods.get().saturating_add(1));
        let now_ms = periods.get();
        let Ok(mut guest) = GUEST.borrow(cs).try_borrow_mut() else { return };
        let Some(guest) = guest.as_mut().filter(|g| !g.paused) else { return };
        let Ok(mut memory) = GUEST_MEMORY.borrow(cs).try_borrow_mut() else { return };
        let Guest { workload, start_ms, dirty, .. } = guest;
        workload.run_until(now_ms.saturating_sub(*start_ms), |page, value| {
            if let Some(bytes) = usize::try_from(page).ok().and_then(|p| memory.get_mut(p)) {
                write_into(bytes, value);
                mark_dirty(dirty, page);
            }
        });
    });
}

/// SysTick's 24-bit down-counter extended to `u64` ticks by the exception's period count.
#[derive(Clone, Copy)]
struct SysTickClock;

impl Clock for SysTickClock {
    fn tick_hz(&self) -> TickHz {
        TICK_HZ
    }

    fn now(&mut self) -> Ticks {
        let Some(counter) = DownCounter::new(RELOAD) else { return Ticks::ZERO };
        free(|cs| {
            let mut periods = PERIODS.borrow(cs).get();
            let mut current = SYST::get_current();
            // Interrupts are masked: a reload since the exception last ran leaves it pending.
            // Then `current` may be from either side of the reload; read it again, after.
            if SCB::is_pendst_pending() {
                current = SYST::get_current();
                periods = periods.saturating_add(1);
            }
            counter.ticks(periods, current)
        })
    }
}

impl DelayNs for SysTickClock {
    fn delay_ns(&mut self, ns: u32) {
        // 25 ticks per microsecond; round up so the wait is never short.
        let ticks = u64::from(ns).saturating_mul(TICK_HZ.0).div_ceil(1_000_000_000);
        let until = self.now().saturating_add(Ticks(ticks));
        while self.now() < until {}
    }
}

/// Copies pages from the guest's memory to the destination's with the CPU.
struct CpuCopyDma {
    in_flight: Option<u64>,
}

/// What the CPU-copy "DMA" can refuse.
#[derive(Debug)]
enum DmaError {
    /// A transfer is already in flight.
    Busy,
    /// No such page.
    NoSuchPage,
    /// A memory was in use (cannot happen: only the loop and the masked exception touch it).
    MemoryInUse,
    /// Polled with nothing in flight.
    Idle,
}

impl PageTransfer for CpuCopyDma {
    type Error = DmaError;

    fn start(&mut self, page: u64) -> Result<(), DmaError> {
        if self.in_flight.is_some() {
            return Err(DmaError::Busy);
        }
        let index = usize::try_from(page).map_err(|_| DmaError::NoSuchPage)?;
        free(|cs| {
            let guest = GUEST_MEMORY.borrow(cs).try_borrow().map_err(|_| DmaError::MemoryInUse)?;
            let mut destination = DESTINATION_MEMORY.borrow(cs).try_borrow_mut().map_err(|_| DmaError::MemoryInUse)?;
            let (Some(from), Some(to)) = (guest.get(index), destination.get_mut(index)) else {
                return Err(DmaError::NoSuchPage);
            };
            if LOST_PAGE != Some(index) {
                to.copy_from_slice(from);
            }
            Ok(())
        })?;
        self.in_flight = Some(page);
        Ok(())
    }

    fn poll(&mut self) -> Poll<Result<(), DmaError>> {
        // The copy finished inside `start`.
        Poll::Ready(self.in_flight.take().map(|_| ()).ok_or(DmaError::Idle))
    }
}

impl VerifyPage for CpuCopyDma {
    fn page_matches(&mut self, page: u64) -> bool {
        let Ok(index) = usize::try_from(page) else { return false };
        free(|cs| {
            let (Ok(guest), Ok(destination)) =
                (GUEST_MEMORY.borrow(cs).try_borrow(), DESTINATION_MEMORY.borrow(cs).try_borrow())
            else {
                return false;
            };
            matches!((guest.get(index), destination.get(index)), (Some(a), Some(b)) if a == b)
        })
    }
}

/// The guest's dirty log, kept by the SysTick exception.
struct GuestDirtyLog;

impl DirtyLog for GuestDirtyLog {
    fn take(&mut self, bitmap: &mut [u64]) {
        free(|cs| {
            if let Ok(mut guest) = GUEST.borrow(cs).try_borrow_mut()
                && let Some(guest) = guest.as_mut()
            {
                for (to, from) in bitmap.iter_mut().zip(guest.dirty.iter_mut()) {
                    *to |= *from;
                    *from = 0;
                }
            }
        });
    }

    fn pause_guest(&mut self) {
        free(|cs| {
            if let Ok(mut guest) = GUEST.borrow(cs).try_borrow_mut()
                && let Some(guest) = guest.as_mut()
            {
                guest.paused = true;
            }
        });
    }
}

/// A 20 Mbit/s link with 4 Mbit/s of other traffic, 12 Mbit/s for 300 ms of every second.
struct SyntheticLink;

impl LinkMonitor for SyntheticLink {
    fn sample(&mut self, now: Ticks) -> LinkSample {
        let ms_into_second = (now.0 / (TICK_HZ.0 / 1_000)) % 1_000;
        let other = if ms_into_second < 300 { 12 } else { 4 };
        LinkSample::new(BytesPerSec::from_mbit_per_sec(20), BytesPerSec::from_mbit_per_sec(other))
    }
}

/// One defmt line per round, and the summary.
struct DefmtLog;

impl Observer for DefmtLog {
    fn round(&mut self, log: &RoundLog) {
        let a = &log.allocation;
        defmt::info!(
            "round {=u32} {} rule {}: free {} reserved {} migration {}; sent {=u64} pages, deferred {=u64}, dirtied {=u64}; allocated {} achieved {} over {=u64} us",
            log.verdict.round,
            log.kind,
            a.rule,
            a.free,
            a.reserved,
            a.migration,
            log.pages_sent,
            log.pages_deferred,
            log.pages_dirtied,
            log.allocated_rate(TICK_HZ),
            log.achieved_rate(TICK_HZ),
            micros(log.elapsed),
        );
        // Only BDA+ has guards; the check keeps the line out of the BDA build.
        if let Some(guard) = a.guard.filter(|_| cfg!(feature = "bda-plus")) {
            defmt::info!(
                "  guard {}: needs {}, took {} from the reserve, unmet: {}",
                guard.guard,
                guard.needed,
                guard.reserve_taken,
                guard.unmet
            );
        }
    }

    fn complete(&mut self, summary: &Summary, telemetry: &Telemetry) {
        defmt::info!(
            "done: {=u32} rounds, {=u64} bytes, total {=u64} us, downtime {=u64} us, stop: {}; floor applied {=u32}x",
            summary.rounds,
            summary.sent.0,
            micros(summary.total_time),
            micros(summary.downtime),
            summary.stop_reason,
            telemetry.floor_applied,
        );
    }
}

fn micros(ticks: Ticks) -> u64 {
    ticks.0 / (TICK_HZ.0 / 1_000_000)
}

/// Ends the QEMU run with status 0 (success) or 1.
fn exit(success: bool) -> ! {
    debug::exit(if success { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Outside QEMU semihosting returns; stop here.
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(false)
}

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    exit(false)
}
