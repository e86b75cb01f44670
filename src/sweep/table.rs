//! sweep.csv: one row per point (axis values, then summary.json's numeric scalars flattened), and merging shards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

use super::{value_cell, Plan, Point, ERROR_FILE, SUMMARY};
use crate::report::write_atomic;

/// One row of sweep.csv: column name → cell text.
pub type Row = BTreeMap<String, String>;

/// The column holding a point's id.
pub const POINT: &str = "point";
/// The column holding a failed point's error (empty for a finished point).
pub const ERROR: &str = "error";

/// Flattens a JSON value's numeric scalars into `prefix.key` → text (arrays and strings are skipped).
pub fn flatten_numbers(value: &serde_json::Value, prefix: &str, out: &mut Row) {
    match value {
        serde_json::Value::Number(n) => {
            out.insert(prefix.to_string(), n.to_string());
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_numbers(v, &key, out);
            }
        }
        _ => {}
    }
}

fn read_train_log(dir: &Path) -> Option<Vec<Row>> {
    let mut r = csv::Reader::from_path(dir.join("train_log.csv")).ok()?;
    let headers = r.headers().ok()?.clone();
    Some(
        r.records()
            .filter_map(|rec| rec.ok())
            .map(|rec| {
                headers
                    .iter()
                    .zip(rec.iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .collect(),
    )
}

/// The row of a point from its folder: finished (summary.json), failed (error.txt), or none yet.
pub fn point_row(plan: &Plan, p: &Point) -> Option<Row> {
    let dir = plan.point_dir(p);
    let mut row = Row::new();
    row.insert(POINT.into(), p.id.clone());
    let axis_keys: BTreeSet<&str> = p.values.iter().map(|(k, _)| k.as_str()).collect();
    for (k, v) in &p.values {
        row.insert(k.clone(), value_cell(v));
    }
    match std::fs::read_to_string(dir.join(SUMMARY)) {
        Ok(text) => {
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            let mut flat = Row::new();
            flatten_numbers(&json, "", &mut flat);
            for (k, v) in flat {
                // A summary field named like an axis (llc.step_size) keeps the resolved value apart.
                let k = if axis_keys.contains(k.as_str()) {
                    format!("resolved.{k}")
                } else {
                    k
                };
                row.insert(k, v);
            }
            if let (Some(train), Some(step)) = (
                &p.train_dir,
                p.config.llc.as_ref().and_then(|l| l.checkpoint),
            ) {
                if let Some(log) = read_train_log(train) {
                    if let Some(r) = log
                        .iter()
                        .find(|r| r.get("step").map(String::as_str) == Some(&step.to_string()))
                    {
                        for (col, name) in [
                            ("train_loss", "checkpoint.train_loss"),
                            ("test_loss", "checkpoint.test_loss"),
                            ("train_acc", "checkpoint.train_acc"),
                            ("test_acc", "checkpoint.test_acc"),
                        ] {
                            if let Some(v) = r.get(col).filter(|v| !v.is_empty()) {
                                row.insert(name.into(), v.clone());
                            }
                        }
                    }
                }
            }
            row.insert(ERROR.into(), String::new());
            Some(row)
        }
        Err(_) => {
            let err = std::fs::read_to_string(dir.join(ERROR_FILE)).ok()?;
            row.insert(ERROR.into(), err.trim().to_string());
            Some(row)
        }
    }
}

/// Rows of the given points that have a result, in grid order.
pub fn rows_for<'a>(plan: &Plan, points: impl Iterator<Item = &'a Point>) -> Vec<Row> {
    points.filter_map(|p| point_row(plan, p)).collect()
}

/// Writes rows atomically: `point`, the axes, the other columns sorted, `error` last.
pub fn write_table(path: &Path, axis_keys: &[String], rows: &[Row]) -> Result<()> {
    let mut columns: Vec<String> = vec![POINT.into()];
    columns.extend(axis_keys.iter().cloned());
    let fixed: BTreeSet<String> = columns.iter().cloned().chain([ERROR.into()]).collect();
    let rest: BTreeSet<&String> = rows
        .iter()
        .flat_map(|r| r.keys())
        .filter(|k| !fixed.contains(*k))
        .collect();
    columns.extend(rest.into_iter().cloned());
    columns.push(ERROR.into());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&columns)
        .output_context(|| format!("formatting {}", path.display()))?;
    for r in rows {
        w.write_record(
            columns
                .iter()
                .map(|c| r.get(c).map(String::as_str).unwrap_or("")),
        )
        .output_context(|| format!("formatting {}", path.display()))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Write(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Reads a sweep CSV into rows (empty cells left out).
pub fn read_table(path: &Path) -> Result<Vec<Row>> {
    let mut r =
        csv::Reader::from_path(path).input_context(|| format!("reading {}", path.display()))?;
    let headers = r
        .headers()
        .input_context(|| format!("reading {}", path.display()))?
        .clone();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.input_context(|| format!("reading {}", path.display()))?;
        rows.push(
            headers
                .iter()
                .zip(rec.iter())
                .filter(|(h, v)| !v.is_empty() || *h == ERROR)
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect(),
        );
    }
    Ok(rows)
}

/// The shard CSVs in a sweep folder.
pub fn shard_files(out: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("sweep-shard-") && n.ends_with(".csv"))
        })
        .collect();
    files.sort();
    files
}

fn failed(r: &Row) -> bool {
    r.get(ERROR).is_some_and(|e| !e.is_empty())
}

/// Every point's best row from the point folders and the shards' CSVs: a finished point's folder
/// first, then a finished row from a CSV, then a failure. Grid order; points without any are left out.
pub fn merged_rows(plan: &Plan) -> Result<Vec<Row>> {
    let mut from_csv: BTreeMap<String, Row> = BTreeMap::new();
    for f in shard_files(&plan.out) {
        for r in read_table(&f)? {
            let Some(id) = r.get(POINT).cloned() else {
                continue;
            };
            match from_csv.get(&id) {
                Some(old) if !failed(old) => {}
                _ => {
                    from_csv.insert(id, r);
                }
            }
        }
    }
    let known: BTreeSet<&str> = plan.points.iter().map(|p| p.id.as_str()).collect();
    for id in from_csv.keys().filter(|id| !known.contains(id.as_str())) {
        eprintln!(
            "warning: shard CSVs hold point {id}, which this sweep file does not define; left out"
        );
    }
    Ok(plan
        .points
        .iter()
        .filter_map(|p| {
            let folder = point_row(plan, p);
            let csv = from_csv.get(&p.id).cloned();
            match (folder, csv) {
                (Some(f), _) if !failed(&f) => Some(f),
                (f, Some(c)) if !failed(&c) => Some(c).or(f),
                (Some(f), _) => Some(f),
                (None, c) => c,
            }
        })
        .collect())
}

/// One line about a finished point: λ̂ ± stderr.
pub fn short_result(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join(SUMMARY)).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    match (v["llc"]["mean"].as_f64(), v["llc"]["stderr"].as_f64()) {
        (Some(m), Some(s)) => format!("λ̂ = {m:.4} ± {s:.4}"),
        _ => "finished".into(),
    }
}
