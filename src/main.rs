//! The binary's entry. hull provides the C `main` itself (`no_main`) rather than Rust's: the
//! standard runtime's start-up reads and parses /proc/self/maps (glibc's
//! pthread_getattr_np, to place the main thread's stack guard), about 12% of a short
//! command's instructions, for a stack-overflow message hull does not need (an overflow is
//! still a SIGSEGV). The two things of that start-up hull does rely on are done by
//! `sys::process::startup`: fds 0-2 open, SIGPIPE ignored.
#![cfg_attr(not(test), no_main)]
#![deny(unsafe_code)]

// `no_mangle` is an unsafe attribute (the symbol must not clash): `main` is the one symbol
// the C runtime calls, defined once here, so this is the binary's only exception.
#[cfg(not(test))]
#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    hull::sys::process::startup();
    // process::exit, not a return: it flushes stdout as Rust's runtime would.
    std::process::exit(hull::cli::run());
}

#[cfg(test)]
fn main() {}
