//! `creel archive --dry-run`: walks a vendor account's lessons as an `archive.scan` job would
//! (the same list calls, through the same quota), and says which it would archive, what that
//! is estimated to cost and move, and whether the account's budgets leave room for it.

use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use creel_core::Config;
use creel_jobs::archive::{ArchiveScanSpec, Lesson, archived_by, list_page};
use creel_queue::Queue;
use serde::Serialize;

/// What a backfill would do.
#[derive(Debug, Serialize)]
pub struct DryRun {
    /// The lessons it would archive.
    pub lessons: Vec<Lesson>,
    /// Lessons already archived to the profile (skipped).
    pub already_archived: usize,
    /// Their estimated cost, in the account's currency.
    pub estimated_amount: f64,
    /// Their estimated vendor traffic, in bytes (lessons whose size the list gives).
    pub estimated_traffic_bytes: u64,
    /// One line per budget limit: what is used, what the backfill adds, and whether it fits.
    pub budget: Vec<String>,
}

/// Walks every page of `spec` for `account` and checks each lesson's mark.
///
/// # Errors
/// Redis or the vendor failed (the vendor error says which call and why).
pub async fn dry_run(
    config: &Arc<Config>,
    queue: &Queue,
    account: &str,
    spec: &ArchiveScanSpec,
) -> anyhow::Result<DryRun> {
    let vendors = crate::worker::vendor_clients(config)
        .await
        .context("the vendor clients")?;
    let until = spec.until_or(config, Utc::now());
    let calendar = config.costs.calendar();
    let window = creel_jobs::archive::Window {
        since: calendar
            .parse_time(&spec.since)
            .context("--since is not a date")?,
        until,
        record_ids: &spec.record_ids,
    };
    let mut out = DryRun {
        lessons: Vec::new(),
        already_archived: 0,
        estimated_amount: 0.0,
        estimated_traffic_bytes: 0,
        budget: Vec::new(),
    };
    let mut page = 1;
    // Lessons made while the walk pages push older ones onto later pages: each counts once.
    let mut seen = std::collections::HashSet::new();
    loop {
        let read = list_page(&vendors, config, account, spec.source, window, page)
            .await
            .map_err(|e| anyhow::format_err!("listing page {page}: {e}"))?;
        for lesson in read.lessons {
            if !seen.insert(lesson.id.clone()) {
                continue;
            }
            if archived_by(queue, account, spec, &lesson)
                .await
                .map_err(|e| anyhow::format_err!("{e}"))?
                .is_some()
            {
                out.already_archived += 1;
                continue;
            }
            if let Some(e) = &lesson.estimate {
                out.estimated_amount += e.amount;
                out.estimated_traffic_bytes += e.traffic_bytes();
            }
            out.lessons.push(lesson);
        }
        if read.last {
            break;
        }
        page += 1;
    }
    let usage = queue
        .account_usage(account, &config.costs, Vec::new())
        .await?;
    let b = &usage.budget;
    #[allow(clippy::cast_precision_loss)]
    let traffic = out.estimated_traffic_bytes as f64;
    #[allow(clippy::cast_precision_loss)]
    let limits = [
        ("daily", b.daily, usage.today.amount, out.estimated_amount),
        (
            "monthly",
            b.monthly,
            usage.this_month.amount,
            out.estimated_amount,
        ),
        (
            "daily_traffic_bytes",
            b.daily_traffic_bytes.map(|v| v as f64),
            usage.today.traffic_bytes as f64,
            traffic,
        ),
        (
            "monthly_traffic_bytes",
            b.monthly_traffic_bytes.map(|v| v as f64),
            usage.this_month.traffic_bytes as f64,
            traffic,
        ),
    ];
    for (name, limit, used, adds) in limits {
        let Some(limit) = limit else { continue };
        let verdict = if used + adds <= limit {
            "fits"
        } else {
            "would pass it: the rest waits for the next period (or fails, by on_exceed)"
        };
        out.budget.push(format!(
            "{name}: {used} used of {limit}; this backfill adds about {adds}: {verdict}"
        ));
    }
    Ok(out)
}

/// The dry run as text: a line per lesson, then the totals and the budget lines.
#[must_use]
pub fn dry_run_text(run: &DryRun, currency: &str) -> String {
    let mut text = String::new();
    for l in &run.lessons {
        let estimate = l
            .estimate
            .as_ref()
            .map(|e| {
                format!(
                    "{} {} ({} {})",
                    e.amount,
                    e.currency,
                    e.quantity,
                    e.unit.as_str()
                )
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{estimate}\n",
            l.kind,
            l.id,
            l.created.map(|t| t.to_rfc3339()).unwrap_or_default(),
            l.name.as_deref().unwrap_or(""),
        ));
    }
    text.push_str(&format!(
        "{} lessons to archive, {} already archived; estimated {} {currency}, {} bytes of vendor traffic\n",
        run.lessons.len(),
        run.already_archived,
        run.estimated_amount,
        run.estimated_traffic_bytes
    ));
    for line in &run.budget {
        text.push_str(line);
        text.push('\n');
    }
    text.trim_end().to_owned()
}
