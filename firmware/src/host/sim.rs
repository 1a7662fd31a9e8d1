//! Std stand-ins for the board's hardware: a clock (simulated, or the real one), a VM held in
//! memory with its workload and dirty log, and a link whose other traffic changes over time.

use std::cell::{Cell, RefCell};
use std::collections::TryReserveError;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bda_core::{BytesPerSec, LinkSample, TickHz, Ticks};
use embedded_hal::delay::DelayNs;
use firmware::io::{Clock, DirtyLog, LinkMonitor, PageTransfer, VerifyPage};
use firmware::workload::{Workload, fill_initial, mark_dirty, write_into};

/// Nanosecond ticks, on a simulated clock or the machine's. Clones share the clock.
#[derive(Clone, Debug)]
pub enum HostClock {
    /// Time moves only when the loop waits: a run is fast and exactly reproducible.
    Simulated(Rc<Cell<u64>>),
    /// The machine's monotonic clock; waits really wait.
    Real(Instant),
}

impl HostClock {
    /// A simulated clock at tick 0.
    pub fn simulated() -> Self {
        Self::Simulated(Rc::new(Cell::new(0)))
    }

    /// The real clock, from now.
    pub fn real() -> Self {
        Self::Real(Instant::now())
    }

    fn now_ns(&self) -> u64 {
        match self {
            Self::Simulated(now) => now.get(),
            Self::Real(start) => u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

impl Clock for HostClock {
    fn tick_hz(&self) -> TickHz {
        TickHz::NANOS
    }

    fn now(&mut self) -> Ticks {
        Ticks(self.now_ns())
    }
}

impl DelayNs for HostClock {
    fn delay_ns(&mut self, ns: u32) {
        match self {
            Self::Simulated(now) => now.set(now.get().saturating_add(u64::from(ns))),
            Self::Real(_) => {
                // Sleep for the bulk of a long wait (the OS wakes late), spin for the rest.
                let until = self.now_ns().saturating_add(u64::from(ns));
                if ns > 200_000 {
                    std::thread::sleep(Duration::from_nanos(u64::from(ns).saturating_sub(100_000)));
                }
                while self.now_ns() < until {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// The source VM and the destination's memory, side by side.
#[derive(Debug)]
pub struct Vm {
    page_bytes: usize,
    memory: Vec<u8>,
    destination: Vec<u8>,
    dirty: Vec<u64>,
    workload: Workload,
    paused: bool,
    clock: HostClock,
    lose_page: Option<u64>,
    in_flight: Option<u64>,
}

/// A handle on the shared [`Vm`]: the loop's page transfer and its dirty log are two of them.
#[derive(Clone, Debug)]
pub struct VmPort(Rc<RefCell<Vm>>);

impl VmPort {
    /// A VM of `pages` pages of `page_bytes`, filled with its initial pattern, running
    /// `workload` on `clock`. With `lose_page`, the transfer silently drops every copy of
    /// that page (to show that verification catches it). Fails, rather than aborting, when
    /// the machine cannot hold the source's and the destination's memory.
    pub fn new(
        pages: usize,
        page_bytes: usize,
        workload: Workload,
        clock: HostClock,
        lose_page: Option<u64>,
    ) -> Result<Self, TryReserveError> {
        let bytes = pages.saturating_mul(page_bytes);
        let mut memory = zeroed(bytes)?;
        let destination = zeroed(bytes)?;
        for (page, contents) in (0..).zip(memory.chunks_exact_mut(page_bytes)) {
            fill_initial(page, contents);
        }
        Ok(Self(Rc::new(RefCell::new(Vm {
            page_bytes,
            memory,
            destination,
            dirty: vec![0; pages.div_ceil(64)],
            workload,
            paused: false,
            clock,
            lose_page,
            in_flight: None,
        }))))
    }
}

impl Vm {
    /// Lets the guest write everything its workload scheduled up to now.
    fn catch_up(&mut self) {
        if self.paused {
            return;
        }
        let now_ms = self.clock.now_ns() / 1_000_000;
        let Self { page_bytes, memory, dirty, workload, .. } = self;
        workload.run_until(now_ms, |page, value| {
            if let Some(bytes) = page_range(page, *page_bytes).and_then(|r| memory.get_mut(r)) {
                write_into(bytes, value);
                mark_dirty(dirty, page);
            }
        });
    }
}

/// `bytes` zeroes, or the allocator's refusal.
fn zeroed(bytes: usize) -> Result<Vec<u8>, TryReserveError> {
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(bytes)?;
    buffer.resize(bytes, 0);
    Ok(buffer)
}

/// The byte range of page `page`.
fn page_range(page: u64, page_bytes: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(page).ok()?.checked_mul(page_bytes)?;
    Some(start..start.checked_add(page_bytes)?)
}

/// What the in-memory transfer can refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmTransferError {
    /// A transfer is already in flight.
    Busy,
    /// No such page.
    NoSuchPage,
    /// Polled with nothing in flight.
    Idle,
}

impl PageTransfer for VmPort {
    type Error = VmTransferError;

    fn start(&mut self, page: u64) -> Result<(), VmTransferError> {
        let mut vm = self.0.borrow_mut();
        if vm.in_flight.is_some() {
            return Err(VmTransferError::Busy);
        }
        vm.catch_up();
        let range = page_range(page, vm.page_bytes).ok_or(VmTransferError::NoSuchPage)?;
        let Vm { memory, destination, lose_page, .. } = &mut *vm;
        let (Some(from), Some(to)) = (memory.get(range.clone()), destination.get_mut(range)) else {
            return Err(VmTransferError::NoSuchPage);
        };
        if *lose_page != Some(page) {
            to.copy_from_slice(from);
        }
        vm.in_flight = Some(page);
        Ok(())
    }

    fn poll(&mut self) -> Poll<Result<(), VmTransferError>> {
        Poll::Ready(self.0.borrow_mut().in_flight.take().map(|_| ()).ok_or(VmTransferError::Idle))
    }
}

impl VerifyPage for VmPort {
    fn page_matches(&mut self, page: u64) -> bool {
        let vm = self.0.borrow();
        let Some(range) = page_range(page, vm.page_bytes) else { return false };
        matches!((vm.memory.get(range.clone()), vm.destination.get(range)), (Some(a), Some(b)) if a == b)
    }
}

impl DirtyLog for VmPort {
    fn take(&mut self, bitmap: &mut [u64]) {
        let mut vm = self.0.borrow_mut();
        vm.catch_up();
        for (to, from) in bitmap.iter_mut().zip(vm.dirty.iter_mut()) {
            *to |= *from;
            *from = 0;
        }
    }

    fn pause_guest(&mut self) {
        let mut vm = self.0.borrow_mut();
        vm.catch_up();
        vm.paused = true;
    }
}

/// A link of `capacity` whose other traffic is 20 % of it, and 60 % one second in three.
#[derive(Clone, Copy, Debug)]
pub struct SimLink {
    /// The link's capacity.
    pub capacity: BytesPerSec,
    /// The clock's frequency, to tell the seconds.
    pub tick_hz: TickHz,
}

impl LinkMonitor for SimLink {
    fn sample(&mut self, now: Ticks) -> LinkSample {
        let second = now.0.checked_div(self.tick_hz.0).unwrap_or(0);
        let percent = if second % 3 == 2 { 60 } else { 20 };
        let other = (self.capacity.0 / 100).saturating_mul(percent);
        LinkSample::new(self.capacity, BytesPerSec(other))
    }
}
