//! Terminals: the container's pty and the foreground relay.

pub mod notify;
pub mod relay;
pub mod tty;
