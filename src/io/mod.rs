//! Terminals and stdio.
