//! Capability sets of the container process.

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;

use crate::{Error, Result};

fn set_of(list: &Option<oci_spec::runtime::Capabilities>) -> CapsHashSet {
    list.as_ref()
        .map(|l| {
            l.iter()
                .filter_map(|c| format!("CAP_{c}").parse::<Capability>().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn sys(what: &str, e: caps::errors::CapsError) -> Error {
    Error::Other(format!("{what}: {e}"))
}

/// Before the user switch, while the process still has CAP_SETPCAP: the bounding set (every
/// capability the config does not list is dropped) and the inheritable set.
pub fn drop_bounding(c: Option<&LinuxCapabilities>) -> Result<()> {
    let inh = c.map(|c| set_of(c.inheritable())).unwrap_or_default();
    caps::set(None, CapSet::Inheritable, &inh)
        .map_err(|e| sys("set inheritable capabilities", e))?;
    let keep = c.map(|c| set_of(c.bounding())).unwrap_or_default();
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| sys(&format!("drop {cap} from the bounding set"), e))?;
        }
    }
    Ok(())
}

/// Sets the effective, permitted and ambient sets (after the user switch).
pub fn apply(c: Option<&LinuxCapabilities>) -> Result<()> {
    // No `capabilities` means none at all (oci-spec's Default would bring a default set).
    let pick = |f: fn(&LinuxCapabilities) -> &Option<oci_spec::runtime::Capabilities>| {
        c.map(|c| set_of(f(c))).unwrap_or_default()
    };
    let (eff, perm, inh, amb) = (
        pick(LinuxCapabilities::effective),
        pick(LinuxCapabilities::permitted),
        pick(LinuxCapabilities::inheritable),
        pick(LinuxCapabilities::ambient),
    );
    // Inheritable was set before the user switch; permitted, then effective within it.
    caps::set(
        None,
        CapSet::Effective,
        &eff.intersection(&perm).copied().collect(),
    )
    .and_then(|_| caps::set(None, CapSet::Permitted, &perm))
    .map_err(|e| sys("set permitted capabilities", e))?;
    caps::set(None, CapSet::Effective, &eff).map_err(|e| sys("set effective capabilities", e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| sys("clear ambient capabilities", e))?;
    // The kernel only lets a capability into the ambient set when it is both permitted and
    // inheritable; runc's default spec lists ambient caps without inheritable ones and they
    // are quietly left out, so the same configs behave the same here.
    for cap in amb
        .iter()
        .filter(|c| perm.contains(c) && inh.contains(c))
        .copied()
    {
        caps::raise(None, CapSet::Ambient, cap)
            .map_err(|e| sys(&format!("raise ambient {cap}"), e))?;
    }
    Ok(())
}

/// Every capability name hull knows, for `features`.
pub fn known() -> Vec<String> {
    let mut all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    all.sort();
    all
}
