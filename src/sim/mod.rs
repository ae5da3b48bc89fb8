//! A faithful simulator of the Vast.ai API (vast-api.md §8), used by `vastfleet sim`,
//! `vastfleet demo`, the tests and the benchmarks. It shares nothing with the client beyond the
//! serde models, so it can catch the client's mistakes.
