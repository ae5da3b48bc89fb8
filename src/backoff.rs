//! The pure retry schedule: `min(interval · 2^(n-1), cap)` plus jitter, `Retry-After` winning
//! when it is longer.
