//! The command line, mirroring runc's.
pub fn run() -> i32 {
    0
}
