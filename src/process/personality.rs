//! linux.personality: the execution domain of the container's processes (personality(2)).
//! LINUX32 makes uname(2) report a 32-bit machine (i686 on x86_64), for 32-bit builds run on a
//! 64-bit host. The domain survives execve and is inherited, so setting it in init and in each
//! exec'd process covers the container.

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

use crate::{Context, Error, Result};

/// The spec's domains and their PER_* numbers.
pub const DOMAINS: &[(LinuxPersonalityDomain, &str, u32)] = &[
    (LinuxPersonalityDomain::PerLinux, "LINUX", 0x0000),
    (LinuxPersonalityDomain::PerLinux32, "LINUX32", 0x0008),
];

fn domain(p: &LinuxPersonality) -> (&'static str, u32) {
    DOMAINS
        .iter()
        .find(|(d, ..)| *d == p.domain())
        .map(|(_, name, n)| (*name, *n))
        .expect("every domain is in the table")
}

/// The spec defines no flag values ("Currently no flag values are supported"). runc 1.4
/// warns and goes on without them; a field hull cannot apply is an error instead.
pub fn check(p: &LinuxPersonality) -> Result<()> {
    match p.flags().as_deref() {
        Some([first, ..]) => Err(Error::invalid(format!(
            "linux.personality.flags[0] {first:?}: no personality flags are supported (the runtime-spec defines none)"
        ))),
        _ => Ok(()),
    }
}

/// Sets the execution domain of the calling process.
pub fn apply(p: &LinuxPersonality) -> Result<()> {
    let (name, persona) = domain(p);
    crate::sys::sched::personality(persona)
        .map(drop)
        .with_ctx(|| format!("linux.personality.domain {name}: personality"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_refused_domains_map_to_per_numbers() {
        let p: LinuxPersonality =
            serde_json::from_value(serde_json::json!({"domain": "LINUX32"})).unwrap();
        assert_eq!(domain(&p), ("LINUX32", 8));
        assert!(check(&p).is_ok());
        let p: LinuxPersonality = serde_json::from_value(
            serde_json::json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
        )
        .unwrap();
        let err = check(&p).unwrap_err().to_string();
        assert!(err.starts_with("linux.personality.flags[0]"), "{err}");
    }
}
