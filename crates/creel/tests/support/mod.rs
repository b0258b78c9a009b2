//! What the process-level tests of the `creel` binary share: stopping a process as Kubernetes
//! and an operator do, with a signal.

#![allow(dead_code, reason = "each test binary uses part of it")]

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Sends `which` (`-TERM`, `-KILL`) to `pid` with kill(1).
pub(crate) fn signal(which: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(which)
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill {which} {pid}");
}

/// SIGTERM to `child`, then its exit status; panics if it has not exited `within`.
pub(crate) async fn sigterm_and_wait(child: &mut Child, within: Duration) -> ExitStatus {
    signal("-TERM", child.id());
    let signalled = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            signalled.elapsed() < within,
            "the process did not exit within {within:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
