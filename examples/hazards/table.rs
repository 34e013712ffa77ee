//! Rendering the hazards table as aligned text or Markdown.

use std::time::Duration;

use super::{DEADLOCK_TIMEOUT, FIBERS, Outcome, Run, STALL_THRESHOLD, TICK};

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn ns(v: f64) -> String {
    if v >= 1_000.0 {
        format!("{:.1} µs", v / 1e3)
    } else {
        format!("{v:.0} ns")
    }
}

/// The cells of one row; `short` leaves out the p99 and the cost columns.
fn cells(run: &Run, runs: &[Run], short: bool) -> Vec<String> {
    let call = if run.std {
        run.case.call().to_owned()
    } else {
        String::new()
    };
    let version = match (run.std, cfg!(feature = "hook")) {
        // Built with `--features hook`: the std rows are the third version, std with the hook.
        (true, true) => format!("{} + hook", run.case.std_version()),
        (true, false) => run.case.std_version().to_owned(),
        (false, _) => run.case.twin().to_owned(),
    };
    let done = match run.outcome {
        Outcome::Done(d) => ms(d),
        Outcome::Hung(d) => format!("hung (killed after {})", ms(d)),
        Outcome::Deadlock(d) => format!("deadlock reported after {}", ms(d)),
    };
    let (worst, p99) = match (run.ticks, run.outcome) {
        (_, Outcome::Hung(_)) => ("∞ (thread hung)".to_owned(), "∞".to_owned()),
        (Some(t), _) => (ms(t.worst), ms(t.p99)),
        (None, _) => ("-".to_owned(), "-".to_owned()),
    };
    let stall = if run.stalls > 0 {
        format!("yes ({})", run.stalls)
    } else {
        "no".to_owned()
    };
    let deadlock = if run.deadlock.is_some() { "yes" } else { "no" }.to_owned();
    let mut row = vec![call, version, done, worst];
    if !short {
        row.push(p99);
    }
    row.push(stall);
    row.push(deadlock);
    if !short {
        let std_ns = runs
            .iter()
            .find(|r| r.case == run.case && r.std)
            .and_then(|r| r.cost_ns);
        row.push(match (run.cost_ns, std_ns) {
            (None, _) => "n/a".to_owned(),
            (Some(v), _) if run.std => ns(v),
            (Some(v), Some(s)) => format!("{} ({:.1}× std)", ns(v), v / s),
            (Some(v), None) => ns(v),
        });
    }
    row
}

fn header(short: bool) -> Vec<&'static str> {
    let mut h = vec![
        "blocking call",
        "version",
        "all calls done in",
        "worst tick delay",
    ];
    if !short {
        h.push("p99 tick delay");
    }
    h.push("stall detector");
    h.push("deadlock report");
    if !short {
        h.push("1 call, nothing to wait for");
    }
    h
}

/// The table as aligned text (`markdown == false`) or as a Markdown table.
pub(crate) fn render(runs: &[Run], markdown: bool, short: bool) -> String {
    let head = header(short);
    let rows: Vec<Vec<String>> = runs.iter().map(|r| cells(r, runs, short)).collect();
    let mut out = String::new();
    if markdown {
        out += &format!("| {} |\n", head.join(" | "));
        out += &format!("|{}\n", "---|".repeat(head.len()));
        for row in &rows {
            out += &format!("| {} |\n", row.join(" | "));
        }
        return out;
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([head[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    out += &line(&head);
    out += &line(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    for row in &rows {
        out += &line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

/// What the table measured, in a few lines; `short` for the table without the cost column.
pub(crate) fn legend(short: bool) -> String {
    let costs = if short {
        ""
    } else {
        " The last column is one call when nothing has to wait (indicative; the criterion \
         benches are the reference)."
    };
    format!(
        "{FIBERS} fibers make each call once, on one thread, next to a ticker fiber due every {} ms \
         (tick delay: how late each due tick came).\nStall detector threshold {} ms, deadlock \
         timeout {} ms.{costs}",
        TICK.as_millis(),
        STALL_THRESHOLD.as_millis(),
        DEADLOCK_TIMEOUT.as_millis()
    )
}

/// The first stall report and the deadlock report, as a user would see them.
pub(crate) fn sample_reports(runs: &[Run]) -> String {
    let mut out = String::new();
    if let Some(stall) = runs.iter().find_map(|r| r.first_stall.as_deref()) {
        out += "A stall report, with the stalled fiber's backtrace (std::thread::sleep row):\n";
        for l in stall.lines() {
            out += &format!("  {l}\n");
        }
    }
    if let Some(report) = runs.iter().find_map(|r| r.deadlock.as_deref()) {
        out += "The deadlock report (spindle Mutex lock-order row):\n";
        for l in report.lines() {
            out += &format!("  {l}\n");
        }
    }
    out
}
