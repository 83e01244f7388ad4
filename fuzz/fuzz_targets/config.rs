//! config.json from bytes: parsed and validated as `create` does before it touches anything,
//! and the resources rendered into the cgroup files (v1 and v2) they would be written to.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = hull::spec::parse(data) else {
        return;
    };
    let _ = hull::spec::validate(&spec, false);
    if hull::spec::validate(&spec, true).is_err() {
        return;
    }
    if let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        let _ = hull_cgroups::render::v1(r);
        let _ = hull_cgroups::render::v2(r);
        for d in r.devices().iter().flatten() {
            let _ = hull_cgroups::render::device_rule(d);
        }
    }
});
