//! Attacks on the runtime, one module per class of vulnerability: each builds the hostile
//! bundle or runs the hostile step inside a container, and checks both that hull refused
//! and that nothing on the host changed.

mod binary;
