//! Rotation: RotateSecret / CancelRotateSecret, rotation schedules, the mapped HTTP rotation hooks and the
//! built-in rotation function.

pub mod schedule;
