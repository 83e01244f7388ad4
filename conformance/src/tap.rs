//! TAP output: `1..N`, one `ok`/`not ok` line per case (skips as `ok N - name # SKIP why`),
//! diagnostics as `#` lines, and a final `N passed, N failed, N skipped` summary.

use crate::cases::{Case, Verdict};

#[derive(Default)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Tally {
    /// Prints one case's result and counts it.
    pub fn report(&mut self, n: usize, case: &Case, result: &Result<(), Verdict>) {
        let name = case.name;
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("ok {n} - {name}");
            }
            Err(Verdict::Skip(why)) => {
                self.skipped += 1;
                println!("ok {n} - {name} # SKIP {why}");
            }
            Err(Verdict::Fail(why)) => {
                self.failed += 1;
                println!("not ok {n} - {name}");
                println!("#   spec: {}: \"{}\"", case.spec, case.quote);
                for line in why.lines() {
                    println!("#   {line}");
                }
            }
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}
