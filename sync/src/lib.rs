//! spindle-sync: locks and channels that park fibers, not threads.
