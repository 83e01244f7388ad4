//! Questions the later steps ask of a parsed config (which namespaces it asks for, new or
//! joined). A leaf below the validation in `spec`: the modules that validation calls
//! (namespaces, netdev, rootfs) read the config through these without reaching back up.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// True when the config asks for a new (not joined) namespace of this type.
pub fn has_new_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    namespace(spec, typ).is_some_and(|path| path.is_none())
}

/// `Some(None)` for a new namespace, `Some(Some(path))` for one joined by path, `None` when the
/// container shares the runtime's.
pub fn namespace(spec: &Spec, typ: LinuxNamespaceType) -> Option<Option<PathBuf>> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|ns| ns.typ() == typ)
        .map(|ns| joined_path(ns).map(Path::to_path_buf))
}

/// The path of a namespace to join; an empty `path` is no path at all, a new namespace, as
/// runc reads it (engines write `"path": ""` for "create one").
pub fn joined_path(ns: &oci_spec::runtime::LinuxNamespace) -> Option<&Path> {
    ns.path().as_deref().filter(|p| !p.as_os_str().is_empty())
}
