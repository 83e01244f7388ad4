//! state.json from bytes, as every command after `create` reads it: parsed, the public state
//! and the hooks' state rendered, the cgroup handle written and read back.
#![no_main]

use hull::container::{State, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = State::parse(data) else {
        return;
    };
    for status in [
        Status::Creating,
        Status::Created,
        Status::Running,
        Status::Stopped,
    ] {
        let _ = serde_json::to_string(&state.public(status));
        let _ = state.hook_json(status);
    }
    if let Some(handle) = &state.cgroup {
        let _ = handle.freezer_dir();
        let json = serde_json::to_value(handle).expect("a handle serializes");
        let back: hull_cgroups::Handle = serde_json::from_value(json).expect("and reads back");
        assert_eq!(&back, handle);
    }
});
