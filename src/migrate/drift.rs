//! Drift between two stores for the `verify` and `reconcile` commands: the comparison itself
//! lives in [`crate::backends::reconcile`], shared with the mirror backend.

pub use crate::backends::reconcile::{compare, reconcile, CompareError, Drift, Reconciled};
