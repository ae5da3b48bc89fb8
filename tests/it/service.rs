//! Running under a service manager (issue 14, Operations): the lock file a clean exit leaves
//! no trace of, with the real binary against the simulator over loopback.

mod lock;
