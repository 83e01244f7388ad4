//! hull-image: OCI image to bundle.
