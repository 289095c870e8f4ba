//! Per-instance circuit breakers: three-state and adaptive (SRE client-side throttling), retry budget.
