//! The kubelet's part of the scaling test: real `creel worker` processes started to scale up,
//! and stopped as Kubernetes stops a pod to scale down: SIGTERM, then SIGKILL if the process
//! is still there after the grace period. Terminating pods no longer count as replicas.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One worker process.
struct Pod {
    child: Child,
    log: PathBuf,
    terminating_since: Option<Instant>,
}

impl Pod {
    /// SIGTERM, as the kubelet stops a pod; from now on it no longer counts as a replica.
    fn terminate(&mut self) {
        crate::support::signal("-TERM", self.child.id());
        self.terminating_since = Some(Instant::now());
    }
}

/// How a stopped pod ended.
#[derive(Debug)]
pub(crate) struct Exit {
    /// Its log file.
    pub(crate) log: PathBuf,
    /// The exit code (`None`: ended by a signal).
    pub(crate) code: Option<i32>,
    /// From SIGTERM to exit; `None` if the pod was never asked to stop.
    pub(crate) after_term: Option<Duration>,
    /// Whether the grace period ran out and it was killed.
    pub(crate) killed: bool,
}

/// The worker Deployment's pods.
pub(crate) struct Fleet {
    config: PathBuf,
    logs: PathBuf,
    grace: Duration,
    pods: Vec<Pod>,
    started: usize,
    /// Every pod that has ended, in order.
    pub(crate) exits: Vec<Exit>,
}

impl Fleet {
    /// No pods yet; each will run `creel --config <config> worker`, its log under `logs`.
    pub(crate) fn new(config: &Path, logs: &Path, grace: Duration) -> Self {
        Self {
            config: config.to_path_buf(),
            logs: logs.to_path_buf(),
            grace,
            pods: Vec::new(),
            started: 0,
            exits: Vec::new(),
        }
    }

    /// Pods that are not terminating.
    pub(crate) fn replicas(&self) -> usize {
        self.pods
            .iter()
            .filter(|p| p.terminating_since.is_none())
            .count()
    }

    /// Pods still running, terminating ones included.
    pub(crate) fn running(&self) -> usize {
        self.pods.len()
    }

    /// Stops the oldest pod that is not terminating, as a node drain evicts it; the next
    /// [`Fleet::scale_to`] starts its replacement.
    pub(crate) fn evict_oldest(&mut self) {
        if let Some(pod) = self.pods.iter_mut().find(|p| p.terminating_since.is_none()) {
            pod.terminate();
        }
    }

    /// Starts or stops pods until `n` are not terminating; the newest go first.
    pub(crate) fn scale_to(&mut self, n: usize) {
        while self.replicas() < n {
            self.start_pod();
        }
        while self.replicas() > n {
            let Some(pod) = self
                .pods
                .iter_mut()
                .rev()
                .find(|p| p.terminating_since.is_none())
            else {
                break;
            };
            pod.terminate();
        }
    }

    /// Collects pods that ended; SIGKILLs those past their grace period.
    pub(crate) fn reap(&mut self) {
        let mut i = 0;
        while i < self.pods.len() {
            let pod = &mut self.pods[i];
            let status = pod.child.try_wait().expect("try_wait");
            let overdue = pod
                .terminating_since
                .is_some_and(|t| t.elapsed() > self.grace);
            if status.is_none() && !overdue {
                i += 1;
                continue;
            }
            let killed = status.is_none();
            let status = match status {
                Some(s) => s,
                None => {
                    let _ = pod.child.kill();
                    pod.child.wait().expect("wait")
                }
            };
            let pod = self.pods.remove(i);
            self.exits.push(Exit {
                log: pod.log,
                code: status.code(),
                after_term: pod.terminating_since.map(|t| t.elapsed()),
                killed,
            });
        }
    }

    /// Every log file, of running and ended pods.
    pub(crate) fn logs(&self) -> Vec<PathBuf> {
        self.pods
            .iter()
            .map(|p| p.log.clone())
            .chain(self.exits.iter().map(|e| e.log.clone()))
            .collect()
    }

    fn start_pod(&mut self) {
        self.started += 1;
        let log = self.logs.join(format!("worker-{}.log", self.started));
        let child = Command::new(env!("CARGO_BIN_EXE_creel"))
            .arg("--config")
            .arg(&self.config)
            .arg("worker")
            .env("CREEL_LOG_FORMAT", "json")
            .env("CREEL_LOG", "warn,creel=debug")
            // Kubernetes gives every pod its own host name.
            .env("HOSTNAME", format!("worker-{}", self.started))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")))
            .spawn()
            .expect("creel worker");
        self.pods.push(Pod {
            child,
            log,
            terminating_since: None,
        });
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for pod in &mut self.pods {
            let _ = pod.child.kill();
            let _ = pod.child.wait();
        }
    }
}
