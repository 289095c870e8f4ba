//! Load generation with per-instance attribution, faults, timeline and reports.
