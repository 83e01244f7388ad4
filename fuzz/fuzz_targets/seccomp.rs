//! linux.seccomp from bytes: checked and compiled into a BPF program by libseccomp, as
//! `create` does before the clone. Nothing is loaded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = serde_json::from_slice::<oci_spec::runtime::LinuxSeccomp>(data) else {
        return;
    };
    let _ = hull::security::seccomp::compile(&profile, None);
});
