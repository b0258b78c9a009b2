//! The workers' JSON logs read back: when each step of each job started and ended, and in
//! which process, so the test can check that no step ran in two processes at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// One step run in one process.
#[derive(Debug, Clone)]
pub(crate) struct StepRun {
    /// The process's log file.
    pub(crate) process: PathBuf,
    /// `step started`.
    pub(crate) start: DateTime<Utc>,
    /// `step done` or `step failed`; for a process killed mid-step, its last log line.
    pub(crate) end: DateTime<Utc>,
}

/// Every step run of every job, by job id.
pub(crate) fn step_runs(logs: &[PathBuf]) -> HashMap<String, Vec<StepRun>> {
    let mut out: HashMap<String, Vec<StepRun>> = HashMap::new();
    for log in logs {
        let text = std::fs::read_to_string(log).expect("worker log");
        let mut open: HashMap<String, DateTime<Utc>> = HashMap::new();
        let mut last = None;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let Some(at) = v["timestamp"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
            else {
                continue;
            };
            last = Some(at);
            let Some(job) = v["job"].as_str() else {
                continue;
            };
            match v["message"].as_str() {
                Some("step started") => {
                    open.insert(job.to_owned(), at);
                }
                Some("step done" | "step failed") => {
                    if let Some(start) = open.remove(job) {
                        out.entry(job.to_owned()).or_default().push(StepRun {
                            process: log.clone(),
                            start,
                            end: at,
                        });
                    }
                }
                _ => {}
            }
        }
        for (job, start) in open {
            out.entry(job).or_default().push(StepRun {
                process: log.clone(),
                start,
                end: last.unwrap_or(start),
            });
        }
    }
    out
}

/// Pairs of runs of one job in different processes whose times overlap.
pub(crate) fn overlapping(runs: &HashMap<String, Vec<StepRun>>) -> Vec<(String, StepRun, StepRun)> {
    let mut out = Vec::new();
    for (job, list) in runs {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                if a.process != b.process && a.start < b.end && b.start < a.end {
                    out.push((job.clone(), a.clone(), b.clone()));
                }
            }
        }
    }
    out
}

/// Whether the process that wrote `log` had a step still running when it logged that it was
/// stopping (SIGTERM).
pub(crate) fn ran_after_stop(log: &Path, runs: &HashMap<String, Vec<StepRun>>) -> bool {
    let text = std::fs::read_to_string(log).expect("worker log");
    let Some(stopping) = text.lines().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        v["message"]
            .as_str()?
            .starts_with("stopping")
            .then(|| DateTime::parse_from_rfc3339(v["timestamp"].as_str()?).ok())
            .flatten()
            .map(|t| t.with_timezone(&Utc))
    }) else {
        return false;
    };
    runs.values()
        .flatten()
        .any(|r| r.process == log && r.start < stopping && r.end > stopping)
}
