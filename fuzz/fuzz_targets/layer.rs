//! hull-image's layer applier: a tar stream applied, as root, to a tree that lower layers
//! left with symlinks pointing out of it; nothing may land outside the tree (see
//! hull_fuzz::Sandbox). The first byte picks flatten or overlay; the rest is the tar.
#![no_main]

use std::sync::OnceLock;

use hull_fuzz::Sandbox;
use hull_image::layer::{Applier, Limits, Target};
use hull_image::owner::Owners;
use hull_image::tree::Tree;
use libfuzzer_sys::fuzz_target;

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&mode, tar)) = data.split_first() else {
        return;
    };
    let sandbox = SANDBOX.get_or_init(Sandbox::enter);
    let root = sandbox.fresh_root();
    let target = if mode & 1 == 0 {
        Target::Flatten
    } else {
        Target::Overlay
    };
    let limits = Limits {
        max_bytes: 16 << 20,
        max_entries: 10_000,
    };
    let tree = Tree::open(&root).unwrap();
    let mut applier = Applier::new(tree, target, Owners::default(), limits);
    if applier.apply_tar("fuzz", tar).is_ok() && target == Target::Flatten {
        let _ = applier.finish_dirs();
    }
    drop(applier);
    sandbox.check();
});
