//! The scaling test's timeline: one row per controller tick, printed live and written as CSV
//! and as a PNG chart (plotters) by `just scale-sim`.

use std::fmt;
use std::path::Path;

/// What the controller saw and did in one tick.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    /// Seconds since the burst.
    pub(crate) second: f64,
    /// `ready + due + running`, as the API answered.
    pub(crate) backlog: u64,
    /// Ready jobs.
    pub(crate) ready: u64,
    /// Leased jobs.
    pub(crate) running: u64,
    /// Jobs done so far.
    pub(crate) succeeded: u64,
    /// Pods not terminating, after this tick's decision.
    pub(crate) replicas: usize,
    /// `ceil(backlog / target)` between min and max, before stabilisation.
    pub(crate) desired: usize,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "t={:5.1}s backlog={:3} ready={:3} running={:3} succeeded={:3} desired={} replicas={} {}",
            self.second,
            self.backlog,
            self.ready,
            self.running,
            self.succeeded,
            self.desired,
            self.replicas,
            "#".repeat(self.replicas)
        )
    }
}

/// The timeline as CSV.
pub(crate) fn csv(rows: &[Row]) -> String {
    let mut out = String::from("second,backlog,ready,running,succeeded,desired,replicas\n");
    for r in rows {
        out.push_str(&format!(
            "{:.1},{},{},{},{},{},{}\n",
            r.second, r.backlog, r.ready, r.running, r.succeeded, r.desired, r.replicas
        ));
    }
    out
}

/// Writes `timeline.csv` and `timeline.png` into `dir`.
pub(crate) fn write(dir: &Path, rows: &[Row]) {
    std::fs::create_dir_all(dir).expect("output directory");
    std::fs::write(dir.join("timeline.csv"), csv(rows)).expect("timeline.csv");
    let chart = dir.join("timeline.png");
    match png(&chart, rows) {
        Ok(()) => say(&format!("wrote {} and timeline.csv", chart.display())),
        Err(e) => say(&format!("no chart: {e}")),
    }
}

/// The font the chart's text is drawn with (Debian's fonts-dejavu-core).
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Draws backlog, running and replicas over time into `path` (900 × 420 PNG).
fn png(path: &Path, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let font = std::fs::read(FONT)
        .map_err(|e| format!("{FONT}: {e} (apt-get install fonts-dejavu-core)"))?;
    // ab_glyph keeps the font for the process's lifetime.
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "the font does not load")?;
    let end = rows.last().map_or(1.0, |r| r.second).max(1.0);
    let top = rows.iter().map(|r| r.backlog).max().unwrap_or(1).max(1) as f64;
    let most_replicas = rows.iter().map(|r| r.replicas).max().unwrap_or(1).max(1) as f64;
    let root = BitMapBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "creel scaling test: backlog and replicas",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(50)
        .right_y_label_area_size(50)
        .build_cartesian_2d(0.0..end, 0.0..top * 1.05)?
        .set_secondary_coord(0.0..end, 0.0..most_replicas + 1.0);
    chart
        .configure_mesh()
        .x_desc("seconds since the burst")
        .y_desc("jobs")
        .draw()?;
    chart.configure_secondary_axes().y_desc("replicas").draw()?;
    let series = |f: fn(&Row) -> f64| {
        rows.iter()
            .map(move |r| (r.second, f(r)))
            .collect::<Vec<_>>()
    };
    chart
        .draw_series(LineSeries::new(
            series(|r| r.backlog as f64),
            BLUE.stroke_width(2),
        ))?
        .label("backlog (ready + due + running)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            series(|r| r.running as f64),
            GREEN.stroke_width(2),
        ))?
        .label("running")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREEN));
    chart
        .draw_secondary_series(LineSeries::new(
            series(|r| r.replicas as f64),
            RED.stroke_width(3),
        ))?
        .label("replicas (right axis)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A line of the live view (the test's own output, shown with `--nocapture`).
#[allow(clippy::print_stdout)]
pub(crate) fn say(line: &str) {
    println!("{line}");
}
