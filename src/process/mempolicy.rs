//! linux.memoryPolicy: the NUMA memory policy of the container's processes (set_mempolicy(2)).
//! A thread's policy is inherited by its children and kept across execve, so setting it in
//! init and in each exec'd process covers the container. runc 1.4 sets it the same way.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::{Context, Error, Result};

/// The modes: the spec's name and the kernel's number (include/uapi/linux/mempolicy.h).
pub const MODES: &[(MemoryPolicyModeType, &str, i32)] = &[
    (MemoryPolicyModeType::MpolDefault, "MPOL_DEFAULT", 0),
    (MemoryPolicyModeType::MpolPreferred, "MPOL_PREFERRED", 1),
    (MemoryPolicyModeType::MpolBind, "MPOL_BIND", 2),
    (MemoryPolicyModeType::MpolInterleave, "MPOL_INTERLEAVE", 3),
    (MemoryPolicyModeType::MpolLocal, "MPOL_LOCAL", 4),
    (
        MemoryPolicyModeType::MpolPreferredMany,
        "MPOL_PREFERRED_MANY",
        5,
    ),
    (
        MemoryPolicyModeType::MpolWeightedInterleave,
        "MPOL_WEIGHTED_INTERLEAVE",
        6,
    ),
];

/// The mode flags and their bits.
pub const FLAGS: &[(MemoryPolicyFlagType, &str, i32)] = &[
    (
        MemoryPolicyFlagType::MpolFNumaBalancing,
        "MPOL_F_NUMA_BALANCING",
        1 << 13,
    ),
    (
        MemoryPolicyFlagType::MpolFRelativeNodes,
        "MPOL_F_RELATIVE_NODES",
        1 << 14,
    ),
    (
        MemoryPolicyFlagType::MpolFStaticNodes,
        "MPOL_F_STATIC_NODES",
        1 << 15,
    ),
];

fn mode(p: &LinuxMemoryPolicy) -> (&'static str, i32) {
    MODES
        .iter()
        .find(|(m, ..)| *m == p.mode())
        .map(|(_, name, n)| (*name, *n))
        .expect("every mode is in the table")
}

fn flag(f: &MemoryPolicyFlagType) -> (&'static str, i32) {
    FLAGS
        .iter()
        .find(|(x, ..)| x == f)
        .map(|(_, name, n)| (*name, *n))
        .expect("every flag is in the table")
}

/// The node mask, 64 nodes a word.
fn node_mask(list: &str) -> std::result::Result<Vec<u64>, String> {
    let nodes = crate::process::sched::parse_list(list)?;
    // The kernel's limit (MAX_NUMNODES) is at most 1 << 10.
    if let Some(n) = nodes.iter().find(|n| **n >= 1024) {
        return Err(format!("node {n} is beyond the 1024 Linux can have"));
    }
    let mut mask = vec![0u64; nodes.iter().max().map_or(0, |m| m / 64 + 1)];
    for n in nodes {
        mask[n / 64] |= 1 << (n % 64);
    }
    Ok(mask)
}

fn nodes(p: &LinuxMemoryPolicy) -> Option<&str> {
    p.nodes()
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// What set_mempolicy(2) refuses for reasons the config shows: nodes where the mode takes
/// none, no nodes where it needs some, both ways of reading node numbers at once.
pub fn check(p: &LinuxMemoryPolicy) -> Result<()> {
    let (name, _) = mode(p);
    match (name, nodes(p)) {
        ("MPOL_DEFAULT" | "MPOL_LOCAL", Some(n)) => {
            return Err(Error::invalid(format!(
                "linux.memoryPolicy.nodes {n:?}: {name} takes no nodes"
            )))
        }
        (
            "MPOL_BIND" | "MPOL_INTERLEAVE" | "MPOL_WEIGHTED_INTERLEAVE" | "MPOL_PREFERRED_MANY",
            None,
        ) => {
            return Err(Error::invalid(format!(
                "linux.memoryPolicy.nodes: {name} needs at least one node"
            )))
        }
        (_, Some(n)) => {
            node_mask(n)
                .map_err(|e| Error::invalid(format!("linux.memoryPolicy.nodes {n:?}: {e}")))?;
        }
        _ => {}
    }
    let flags: Vec<&str> = p
        .flags()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|f| flag(f).0)
        .collect();
    if flags.contains(&"MPOL_F_STATIC_NODES") && flags.contains(&"MPOL_F_RELATIVE_NODES") {
        return Err(Error::invalid(
            "linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ));
    }
    if !flags.is_empty() && matches!(name, "MPOL_DEFAULT" | "MPOL_LOCAL") {
        return Err(Error::invalid(format!(
            "linux.memoryPolicy.flags: {name} takes no flags"
        )));
    }
    Ok(())
}

/// Sets the memory policy of the calling thread.
pub fn apply(p: &LinuxMemoryPolicy) -> Result<()> {
    let (name, number) = mode(p);
    let flags = p
        .flags()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .fold(0, |a, f| a | flag(f).1);
    let mask = match nodes(p) {
        Some(n) => node_mask(n)
            .map_err(|e| Error::invalid(format!("linux.memoryPolicy.nodes {n:?}: {e}")))?,
        None => Vec::new(),
    };
    crate::sys::sched::set_mempolicy(number | flags, &mask).with_ctx(|| {
        format!(
            "linux.memoryPolicy: set_mempolicy {name} (flags {flags:#x}, nodes {:?})",
            nodes(p).unwrap_or("")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> LinuxMemoryPolicy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn node_masks() {
        assert_eq!(node_mask("0-3,7").unwrap(), vec![0x8f]);
        assert_eq!(node_mask("64").unwrap(), vec![0, 1]);
        assert!(node_mask("1024").is_err());
    }

    #[test]
    fn modes_and_nodes() {
        let ok = |v| check(&policy(v)).is_ok();
        assert!(ok(serde_json::json!({"mode": "MPOL_DEFAULT"})));
        assert!(ok(serde_json::json!({"mode": "MPOL_LOCAL"})));
        assert!(ok(serde_json::json!({"mode": "MPOL_PREFERRED"})));
        assert!(ok(
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]})
        ));
        assert!(ok(
            serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0-3,7"})
        ));
        for bad in [
            serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            serde_json::json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            serde_json::json!({"mode": "MPOL_BIND"}),
            serde_json::json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": ""}),
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "x"}),
            serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            serde_json::json!({"mode": "MPOL_DEFAULT", "flags": ["MPOL_F_STATIC_NODES"]}),
        ] {
            let err = check(&policy(bad.clone())).unwrap_err().to_string();
            assert!(err.starts_with("linux.memoryPolicy"), "{bad}: {err}");
        }
        let err =
            serde_json::from_value::<LinuxMemoryPolicy>(serde_json::json!({"mode": "MPOL_NOPE"}));
        assert!(err.is_err());
    }
}
