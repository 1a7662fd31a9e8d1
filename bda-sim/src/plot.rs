//! SVG plots (plotters): line charts (one line per policy, mean with ± one standard deviation
//! bars) and labelled scatter charts (the trade-off plots).

use std::path::Path;

use plotters::prelude::*;

use crate::report::Stat;

/// Distinguishable colours (ColorBrewer's Set1, darkened for white paper).
const PALETTE: [RGBColor; 5] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One line of a plot.
pub struct Series {
    /// The legend.
    pub name: String,
    /// `(x, value)` points.
    pub points: Vec<(f64, Stat)>,
}

/// Draws `series` into an SVG at `path`. With `x_names`, the x axis is categorical: point
/// `x = i` is labelled `x_names[i]`.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    x_names: Option<&[String]>,
    series: &[Series],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("plotting {}: {e}", path.display());
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x_min, x_max) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let pad = ((x_max - x_min) * 0.06).max(0.4);
    let y_max =
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1.mean + p.1.sd)).fold(0.0_f64, f64::max).max(1e-9) * 1.12;

    let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d((x_min - pad)..(x_max + pad), 0.0..y_max)
        .map_err(|e| err(&e))?;
    let label_x = |x: &f64| match x_names {
        Some(names) => {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        }
        None => format!("{x}"),
    };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels(x_names.map_or(10, |n| n.len() * 4 + 1))
        .x_label_formatter(&label_x)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(&e))?;
    let count = series.len() as f64;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // Categories are not a continuum: no lines, and the policies side by side.
        let shift = if x_names.is_some() { (i as f64 - (count - 1.0) / 2.0) * 0.12 } else { 0.0 };
        let points: Vec<(f64, f64)> = s.points.iter().map(|(x, st)| (*x + shift, st.mean)).collect();
        let legend = move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3));
        if x_names.is_none() {
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(s.name.as_str())
                .legend(legend);
        }
        chart
            .draw_series(s.points.iter().map(|(x, st)| {
                ErrorBar::new_vertical(
                    *x + shift,
                    (st.mean - st.sd).max(0.0),
                    st.mean,
                    st.mean + st.sd,
                    color.filled(),
                    8,
                )
            }))
            .map_err(|e| err(&e))?;
        let dots = chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(|e| err(&e))?;
        if x_names.is_some() {
            dots.label(s.name.as_str()).legend(legend);
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// One point of a scatter chart.
pub struct Dot {
    /// The label drawn beside it.
    pub label: String,
    /// `(x, y)`.
    pub at: (f64, f64),
    /// The colour's index in the palette (one per policy family).
    pub family: usize,
    /// Drawn hollow (for example: did not converge in every run).
    pub hollow: bool,
    /// Ringed (the operating point chosen as default).
    pub marked: bool,
}

/// Draws labelled dots into an SVG at `path`, with a legend of `families` (the palette's
/// order) and a `note` in the lower left. Labels of dots that lie close together are stacked
/// so that each stays readable.
pub fn scatter_chart(
    path: &Path,
    title: &str,
    note: &str,
    (x_label, y_label): (&str, &str),
    families: &[&str],
    dots: &[Dot],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("plotting {}: {e}", path.display());
    let fold = |f: fn(&Dot) -> f64| {
        dots.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let (x_min, x_max) = fold(|d| d.at.0);
    let (_, y_max) = fold(|d| d.at.1);
    let x_pad = ((x_max - x_min) * 0.12).max(2.0);
    let y_top = (y_max * 1.45).max(1.0); // room for the legend above the dots
    let (x_lo, x_hi) = (x_min - x_pad, x_max + x_pad * 3.0);
    // A label line's height and a "close" distance, in data units (the plot is about
    // 740 x 420 pixels).
    let line = y_top * 14.0 / 420.0;
    let near_x = (x_hi - x_lo) * 90.0 / 740.0;

    let root = SVGBackend::new(path, (860, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x_lo..x_hi, 0.0..y_top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(&e))?;
    // Each label goes below the labels already placed near its dot, or above them where
    // below would leave the plot.
    let mut placed: Vec<(f64, f64)> = Vec::new();
    let mut labels = Vec::new();
    for d in dots {
        let clash = |y: f64| placed.iter().any(|&(px, py)| (px - d.at.0).abs() < near_x && (py - y).abs() < line * 0.9);
        let mut y = d.at.1;
        while clash(y) && y - line >= 0.0 {
            y -= line;
        }
        if clash(y) {
            y = d.at.1;
            while clash(y) {
                y += line;
            }
        }
        placed.push((d.at.0, y));
        labels.push((d, y));
    }
    for (family, name) in families.iter().enumerate() {
        let color = PALETTE[family % PALETTE.len()];
        let members: Vec<&Dot> = dots.iter().filter(|d| d.family == family).collect();
        if members.is_empty() {
            continue;
        }
        chart
            .draw_series(members.iter().map(|d| {
                let style = if d.hollow { color.stroke_width(2) } else { color.filled() };
                Circle::new(d.at, 5, style)
            }))
            .map_err(|e| err(&e))?
            .label(*name)
            .legend(move |(x, y)| Circle::new((x + 9, y), 5, color.filled()));
        chart
            .draw_series(members.iter().filter(|d| d.marked).map(|d| Circle::new(d.at, 10, BLACK.stroke_width(2))))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(labels.iter().filter(|(d, _)| d.family == family).map(|(d, y)| {
                Text::new(d.label.clone(), (d.at.0 + x_pad * 0.1, *y), ("sans-serif", 12).into_font().color(&color))
            }))
            .map_err(|e| err(&e))?;
    }
    chart
        .draw_series(std::iter::once(Text::new(
            note.to_string(),
            (x_lo + x_pad * 0.1, y_top * 0.04),
            ("sans-serif", 12).into_font().color(&BLACK.mix(0.7)),
        )))
        .map_err(|e| err(&e))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
