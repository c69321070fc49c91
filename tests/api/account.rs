//! Account data.
