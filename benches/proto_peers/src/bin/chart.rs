//! Draws the comparison's tables as SVG bar charts: `chart DIR` reads `DIR/http.csv` and
//! `DIR/kv.csv` (written by `run.py`) and writes `DIR/http.svg` and `DIR/kv.svg`, one panel per
//! case with one bar of req/s per server. A missing CSV file is skipped.

use std::error::Error;
use std::path::Path;

use plotters::prelude::*;

/// One bar: the panel it belongs to, the server, its req/s.
struct Bar {
    panel: String,
    server: String,
    rps: f64,
}

/// Reads `file` (the header names the columns) into bars; `panel` names a row's panel.
fn read(
    file: &Path,
    panel: impl Fn(&dyn Fn(&str) -> String) -> String,
) -> Result<Vec<Bar>, Box<dyn Error>> {
    let text = std::fs::read_to_string(file)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty CSV file")?.split(',').collect();
    let mut bars = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        let field = |name: &str| -> String {
            header
                .iter()
                .position(|h| *h == name)
                .map(|i| cells[i].to_string())
                .unwrap_or_default()
        };
        bars.push(Bar {
            panel: panel(&field),
            server: field("server"),
            rps: field("rps").parse()?,
        });
    }
    Ok(bars)
}

const COLORS: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
];

/// One SVG of `cols` panels a row, a panel per distinct `Bar::panel` in order of appearance.
fn draw(bars: &[Bar], out: &Path, title: &str, cols: usize) -> Result<(), Box<dyn Error>> {
    let mut panels: Vec<&str> = Vec::new();
    let mut servers: Vec<&str> = Vec::new();
    for b in bars {
        if !panels.contains(&b.panel.as_str()) {
            panels.push(&b.panel);
        }
        if !servers.contains(&b.server.as_str()) {
            servers.push(&b.server);
        }
    }
    let rows = panels.len().div_ceil(cols);
    let root =
        SVGBackend::new(out, (330 * cols as u32, 60 + 260 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    for (area, panel) in root.split_evenly((rows, cols)).iter().zip(&panels) {
        let in_panel: Vec<&Bar> = bars.iter().filter(|b| b.panel == *panel).collect();
        let top = in_panel.iter().map(|b| b.rps).fold(0.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(*panel, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(55)
            // A segmented `0..n` has n + 1 slots: one per server is `0..servers - 1`.
            .build_cartesian_2d((0..servers.len() - 1).into_segmented(), 0.0..top.max(1.0))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc("req/s")
            .y_label_formatter(&|v| format!("{:.0}k", v / 1000.0))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => {
                    servers.get(*i).map_or(String::new(), |s| s.to_string())
                }
                _ => String::new(),
            })
            .x_label_style(("sans-serif", 11))
            .draw()?;
        chart.draw_series(in_panel.iter().map(|b| {
            let i = servers.iter().position(|s| *s == b.server).unwrap_or(0);
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), b.rps),
                ],
                COLORS[i % COLORS.len()].filled(),
            );
            bar.set_margin(0, 0, 6, 6);
            bar
        }))?;
    }
    root.present()?;
    println!("wrote {}", out.display());
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "benches/results".to_string());
    let dir = Path::new(&dir);
    let http = dir.join("http.csv");
    if http.exists() {
        let bars = read(&http, |f| format!("{} c={}", f("endpoint"), f("conns")))?;
        draw(
            &bars,
            &dir.join("http.svg"),
            "wrk -t1: req/s (median of rounds)",
            2,
        )?;
    }
    let kv = dir.join("kv.csv");
    if kv.exists() {
        let bars = read(&kv, |f| {
            let p = f("pipeline");
            if p == "1" {
                f("test")
            } else {
                format!("{} -P {p}", f("test"))
            }
        })?;
        draw(
            &bars,
            &dir.join("kv.svg"),
            "redis-benchmark -c 50: req/s (median of rounds)",
            4,
        )?;
    }
    Ok(())
}
