//! The example firmware, in two environments from one source: on `target_os = "none"` the
//! board binary for QEMU's mps2-an386 (module `mps2`), elsewhere the host binary with
//! simulated stand-ins for the hardware (module `host`). Both run `firmware::migrate`.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod mps2;

#[cfg(not(target_os = "none"))]
mod host;

#[cfg(not(target_os = "none"))]
fn main() -> std::process::ExitCode {
    host::main()
}
