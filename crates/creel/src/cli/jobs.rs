//! `creel jobs …`: show, list, follow, cancel and retry jobs; counts per queue.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use creel_core::{JobId, JobState};
use creel_queue::Queue;

use super::args::JobsCommand;
use super::output::{out, print_value};

pub(crate) async fn jobs(cmd: JobsCommand, queue: &Queue, json: bool) -> anyhow::Result<ExitCode> {
    let id_of = |s: &str| s.parse::<JobId>().map_err(|e| anyhow::format_err!("{e}"));
    match cmd {
        JobsCommand::Get { id } => {
            let rec = queue
                .get(&id_of(&id)?)
                .await?
                .with_context(|| format!("no job {id}"))?
                .redacted();
            print_value(
                json,
                &serde_json::to_value(&rec)?,
                &serde_json::to_string_pretty(&rec)?,
            );
        }
        JobsCommand::List {
            state,
            queue: q,
            kind,
            cursor,
            limit,
        } => {
            let state: JobState = state.parse()?;
            let mut page = queue.list(&q, state, cursor.as_deref(), limit).await?;
            if let Some(k) = kind {
                page.jobs.retain(|j| j.kind == k);
            }
            page.jobs = page.jobs.into_iter().map(|j| j.redacted()).collect();
            let mut text = String::new();
            for j in &page.jobs {
                text.push_str(&format!(
                    "{}  {:<10} {:<12} attempts={} {}\n",
                    j.id,
                    j.state,
                    j.kind,
                    j.attempts,
                    j.last_error.as_deref().unwrap_or("")
                ));
            }
            if let Some(c) = &page.next_cursor {
                text.push_str(&format!("next page: --cursor {c}\n"));
            }
            print_value(json, &serde_json::to_value(&page)?, text.trim_end());
        }
        JobsCommand::Watch { id } => return watch(queue, &id_of(&id)?, json).await,
        JobsCommand::Cancel { id } => {
            let outcome = queue.cancel(&id_of(&id)?).await?;
            print_value(
                json,
                &serde_json::json!({"id": id, "outcome": outcome}),
                &format!("{id}: {outcome:?}"),
            );
        }
        JobsCommand::Retry { id } => {
            queue.requeue(&id_of(&id)?).await?;
            print_value(
                json,
                &serde_json::json!({"id": id, "requeued": true}),
                &format!("{id} requeued"),
            );
        }
        JobsCommand::Counts => {
            let mut all = Vec::new();
            let mut text = String::new();
            for name in queue.queues().await? {
                let c = queue.counts(&name).await?;
                let per: Vec<String> = c.counts.iter().map(|(s, n)| format!("{s}={n}")).collect();
                text.push_str(&format!(
                    "{name}{}: {}\n",
                    if c.paused { " (paused)" } else { "" },
                    per.join(" ")
                ));
                all.push(c);
            }
            print_value(json, &serde_json::to_value(&all)?, text.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows a job with a progress bar (or JSON lines) and exits with its outcome.
async fn watch(queue: &Queue, id: &JobId, json: bool) -> anyhow::Result<ExitCode> {
    let bar = indicatif::ProgressBar::new(0);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut last_state = None;
    loop {
        let rec = queue
            .get(id)
            .await?
            .with_context(|| format!("no job {id}"))?
            .redacted();
        if let Some(p) = &rec.progress {
            if let Some(t) = p["total"].as_u64() {
                bar.set_length(t);
            }
            bar.set_position(p["bytes"].as_u64().unwrap_or(0));
        }
        bar.set_message(format!("{} {}", rec.kind, rec.state));
        if json && last_state != Some(rec.state) {
            out(&serde_json::to_string(&rec)?);
        }
        last_state = Some(rec.state);
        if rec.state.is_terminal() {
            bar.finish();
            if !json {
                out(&format!(
                    "{id} {}{}",
                    rec.state,
                    rec.last_error.map(|e| format!(": {e}")).unwrap_or_default()
                ));
            }
            return Ok(match rec.state {
                JobState::Succeeded => ExitCode::SUCCESS,
                JobState::Failed => ExitCode::from(1),
                _ => ExitCode::from(2),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
