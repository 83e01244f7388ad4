//! hull-cgroups: the cgroup layer of the hull runtime.
