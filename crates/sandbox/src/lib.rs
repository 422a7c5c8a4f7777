//! Linux sandbox runtime.
