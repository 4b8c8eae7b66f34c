//! The chart of BENCHMARKS.md, drawn as plain SVG text: CPU seconds per
//! 100,000 messages for every client, pipelined push→reply and receiving,
//! a bar for the median and a whisker from min to max, with the floor and
//! the goals marked.

use std::fmt::Write;

use crate::results::{BenchFile, Metric, Stat};

const WIDTH: f64 = 960.0;
const LABEL_W: f64 = 250.0;
const RIGHT_PAD: f64 = 115.0;
const ROW_H: f64 = 24.0;
const PANEL_HEAD: f64 = 70.0;
const AXIS_H: f64 = 34.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(role: &str) -> &'static str {
    match role {
        "floor" => "#7f7f7f",
        "ours-callback" => "#1f5fa8",
        "ours-api" => "#5b9bd5",
        _ => "#e07b2a",
    }
}

/// A round step for about `ticks` ticks up to `max`.
fn tick_step(max: f64, ticks: f64) -> f64 {
    let raw = (max / ticks).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn number(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.1}")
    } else if value >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

struct Panel<'a> {
    title: &'a str,
    cell: &'a str,
    /// Multiples of the floor's median drawn as dashed lines.
    goals: &'a [f64],
    /// What the dashed lines are.
    goal_note: &'a str,
}

/// Bars beyond this multiple of the floor are cut at the edge (and
/// labelled), so that one very slow client does not squash the others.
const CLIP_AT_FLOOR_TIMES: f64 = 15.0;

fn panel(out: &mut String, file: &BenchFile, panel: &Panel<'_>, top: f64) -> f64 {
    let rows: Vec<(&crate::results::ClientEntry, Option<Stat>)> = file
        .clients
        .iter()
        .map(|c| (c, file.stat(&c.id, panel.cell, Metric::CpuPer100k)))
        .collect();
    let floor = file
        .clients
        .iter()
        .find(|c| c.role == "floor")
        .and_then(|c| file.stat(&c.id, panel.cell, Metric::CpuPer100k))
        .map(|s| s.median);
    let data_max = rows
        .iter()
        .filter_map(|(_, s)| s.map(|s| s.max))
        .chain(panel.goals.iter().filter_map(|k| floor.map(|f| f * k)))
        .fold(0.0, f64::max);
    let data_max = match floor {
        Some(f) if f > 0.0 => data_max.min(f * CLIP_AT_FLOOR_TIMES),
        _ => data_max,
    };
    let step = tick_step(data_max.max(1e-6) * 1.05, 5.0);
    let axis_max = (data_max * 1.05 / step).ceil().max(1.0) * step;
    let plot_w = WIDTH - LABEL_W - RIGHT_PAD;
    let x = |v: f64| LABEL_W + v.min(axis_max) / axis_max * plot_w;
    let plot_top = top + PANEL_HEAD;
    let plot_h = rows.len() as f64 * ROW_H;

    let _ = writeln!(
        out,
        r#"<text x="{LABEL_W}" y="{:.1}" font-size="15" font-weight="bold">{}</text>"#,
        top + 22.0,
        escape(panel.title)
    );
    let _ = writeln!(
        out,
        r##"<text x="{LABEL_W}" y="{:.1}" font-size="11" fill="#555">CPU seconds per 100,000 messages (user + system, client process); bar: median, whisker: min–max of {} run(s)</text>"##,
        top + 40.0,
        file.params.runs
    );
    let _ = writeln!(
        out,
        r##"<text x="{LABEL_W}" y="{:.1}" font-size="11" fill="#c0392b">{}</text>"##,
        top + 54.0,
        escape(panel.goal_note)
    );
    // Grid and ticks.
    let mut tick = 0.0;
    while tick <= axis_max * 1.0001 {
        let tx = x(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{tx:.1}" y1="{plot_top:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#e3e3e3"/>"##,
            plot_top + plot_h
        );
        let _ = writeln!(
            out,
            r##"<text x="{tx:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#555">{}</text>"##,
            plot_top + plot_h + 14.0,
            number(tick)
        );
        tick += step;
    }
    // The floor and the goals.
    if let Some(floor) = floor {
        for factor in panel.goals {
            let gx = x(floor * factor);
            let _ = writeln!(
                out,
                r##"<line x1="{gx:.1}" y1="{:.1}" x2="{gx:.1}" y2="{:.1}" stroke="#c0392b" stroke-dasharray="4 3"/>"##,
                plot_top - 4.0,
                plot_top + plot_h
            );
        }
    }
    for (i, (client, stat)) in rows.iter().enumerate() {
        let y = plot_top + i as f64 * ROW_H;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"#,
            LABEL_W - 8.0,
            y + ROW_H * 0.65,
            escape(&client.label)
        );
        match stat {
            Some(stat) => {
                let fill = color(&client.role);
                let _ = writeln!(
                    out,
                    r#"<rect x="{LABEL_W}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#,
                    y + 4.0,
                    (x(stat.median) - LABEL_W).max(0.5),
                    ROW_H - 8.0
                );
                let wy = y + ROW_H / 2.0;
                let _ = writeln!(
                    out,
                    r##"<line x1="{:.1}" y1="{wy:.1}" x2="{:.1}" y2="{wy:.1}" stroke="#222" stroke-width="1.2"/>"##,
                    x(stat.min),
                    x(stat.max)
                );
                let clipped = stat.median > axis_max;
                if clipped {
                    // A break mark where the bar leaves the axis.
                    let bx = x(axis_max) - 10.0;
                    let _ = writeln!(
                        out,
                        r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="white" stroke-width="3"/>"#,
                        bx - 3.0,
                        y + ROW_H - 3.0,
                        bx + 3.0,
                        y + 3.0
                    );
                }
                let _ = writeln!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" font-size="11">{}{}{}</text>"#,
                    x(stat.max) + 6.0,
                    y + ROW_H * 0.65,
                    if clipped { "» " } else { "" },
                    number(stat.median),
                    floor
                        .filter(|f| *f > 0.0)
                        .map(|f| format!(" ({:.1}x)", stat.median / f))
                        .unwrap_or_default()
                );
            }
            None => {
                let why = file
                    .missing(&client.id, panel.cell)
                    .unwrap_or_else(|| "no data".into());
                let short: String = why.chars().take(90).collect();
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#888">{}</text>"##,
                    LABEL_W + 4.0,
                    y + ROW_H * 0.65,
                    escape(&short)
                );
            }
        }
    }
    PANEL_HEAD + plot_h + AXIS_H
}

/// The chart of `file`, as an SVG document.
pub fn chart(file: &BenchFile) -> String {
    let mut body = String::new();
    let mut top = 10.0;
    let panels = [
        Panel {
            title: "Pipelined push → reply (1,000 in flight)",
            cell: "pipe",
            goals: &[1.0, 2.0, 3.0],
            goal_note: "dashed: the floor, 2x and 3x it (the goals)",
        },
        Panel {
            title: "Receiving server pushes",
            cell: "recv",
            goals: &[1.0, 1.5],
            goal_note: "dashed: the floor and 1.5x it (the goal)",
        },
    ];
    for p in &panels {
        top += panel(&mut body, file, p, top) + 10.0;
    }
    let legend_y = top + 6.0;
    let mut legend_x = LABEL_W;
    for (role, name) in [
        ("floor", "transport floor"),
        ("ours-callback", "ours, callback model"),
        ("ours-api", "ours, async/blocking API"),
        ("peer", "other clients"),
    ] {
        let _ = writeln!(
            body,
            r#"<rect x="{legend_x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11">{name}</text>"#,
            legend_y - 10.0,
            color(role),
            legend_x + 16.0,
            legend_y
        );
        legend_x += 170.0;
    }
    let height = legend_y + 14.0;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" viewBox=\"0 0 {WIDTH} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(tick_step(0.53, 5.0), 0.2);
        assert_eq!(tick_step(1.0, 5.0), 0.2);
        assert_eq!(tick_step(12.0, 5.0), 2.5);
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
