//! Rendering results: JSON for scripts, aligned tables and `key: value` blocks for people.
//!
//! The text helpers only build strings, so they can be tested without capturing stdout.

use std::io::{self, Write};

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::CtlError;

/// Gap between table columns.
const COLUMN_GAP: &str = "  ";

/// Prints `value` as JSON in the JSON formats, or `text(value)` in text format.
pub fn show<T: Serialize>(
    format: OutputFormat,
    value: &T,
    text: impl FnOnce(&T) -> String,
) -> Result<(), CtlError> {
    match format {
        OutputFormat::Text => emit(&text(value)),
        OutputFormat::Json | OutputFormat::JsonPretty => emit(&to_json(format, value)?),
    }
}

/// Serializes `value` as one JSON document followed by a newline.
pub fn to_json<T: Serialize>(format: OutputFormat, value: &T) -> Result<String, CtlError> {
    let encoded = match format {
        OutputFormat::JsonPretty => serde_json::to_string_pretty(value),
        OutputFormat::Json | OutputFormat::Text => serde_json::to_string(value),
    };
    encoded
        .map(|json| json + "\n")
        .map_err(|err| CtlError::Local(format!("cannot encode the output as JSON: {err}")))
}

/// Writes `text` to stdout as is.
///
/// A closed stdout (`amika-ctl ... | head -1`) is not a failure of the command, so a broken
/// pipe is ignored rather than turned into an error or a panic.
pub fn emit(text: &str) -> Result<(), CtlError> {
    emit_while_open(text).map(drop)
}

/// Writes `text` to stdout and says whether stdout is still open, for output that goes on
/// until its reader leaves.
pub fn emit_while_open(text: &str) -> Result<bool, CtlError> {
    emit_bytes_while_open(text.as_bytes())
}

/// [`emit_while_open`] for output that need not be text, such as a log.
pub fn emit_bytes_while_open(bytes: &[u8]) -> Result<bool, CtlError> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(CtlError::io("cannot write to stdout", err)),
    }
}

/// Reports a failed command: a line on stderr, and in JSON formats the error object on stdout.
pub fn report_error(format: OutputFormat, err: &CtlError) {
    if err.already_reported() {
        return;
    }
    eprintln!("amika-ctl: {err}");
    if format != OutputFormat::Text {
        if let Ok(json) = to_json(format, &err.json_body()) {
            // The command is failing anyway; a closed stdout changes nothing.
            let _ = emit(&json);
        }
    }
}

/// A table whose columns are padded to their widest cell.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(headers: Vec<&'static str>) -> Self {
        Self {
            headers,
            rows: Vec::new(),
        }
    }

    /// Appends a row; it must have one cell per header.
    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(
            row.len(),
            self.headers.len(),
            "row width differs from the header"
        );
        self.rows.push(row);
    }

    /// The table as text, one line per row; empty when there are no rows, header included.
    pub fn render(&self) -> String {
        if self.rows.is_empty() {
            return String::new();
        }
        let widths = self.widths();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            out.push_str(&render_row(row, &widths));
            out.push('\n');
        }
        out
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        widths
    }
}

/// Pads every cell but the last, so lines carry no trailing spaces.
fn render_row(row: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
        if i + 1 == row.len() {
            line.push_str(cell);
        } else {
            line.push_str(&format!("{cell:<width$}{COLUMN_GAP}"));
        }
    }
    line
}

/// Renders `key: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(key, _)| key.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let label = format!("{key}:");
        out.push_str(format!("{label:<width$} {value}").trim_end());
        out.push('\n');
    }
    out
}

/// Formats a byte count in binary units with one decimal: `512 B`, `1.5 KiB`, `20.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // Move up a unit before one decimal would round the value to "1024.0".
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Formats an optional size, with `-` when the daemon does not know it.
pub fn optional_size(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".to_string(), human_size)
}

/// Drops the fractional seconds of an RFC 3339 time, which only widen a table.
pub fn short_time(time: &str) -> String {
    let Some(t) = time.find('T') else {
        return time.to_string();
    };
    let Some(dot) = time[t..].find('.').map(|i| t + i) else {
        return time.to_string();
    };
    let digits = time[dot + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .count();
    format!("{}{}", &time[..dot], &time[dot + 1 + digits..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units_with_one_decimal() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(20 * 1024 * 1024 * 1024), "20.0 GiB");
        assert_eq!(human_size(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
        assert_eq!(optional_size(None), "-");
    }

    #[test]
    fn table_aligns_columns_without_trailing_spaces() {
        let mut table = Table::new(vec!["NAME", "STATE", "CREATED"]);
        table.push(vec!["a".into(), "running".into(), "t1".into()]);
        table.push(vec!["longer-name".into(), "ok".into(), "t2".into()]);
        let expected = "\
NAME         STATE    CREATED
a            running  t1
longer-name  ok       t2
";
        assert_eq!(table.render(), expected);
    }

    #[test]
    fn empty_table_renders_nothing() {
        assert_eq!(Table::new(vec!["NAME"]).render(), "");
    }

    #[test]
    fn fields_align_values() {
        let text = fields(&[("name", "a".into()), ("state dir", "/var/lib/amika".into())]);
        assert_eq!(text, "name:      a\nstate dir: /var/lib/amika\n");
    }

    #[test]
    fn short_time_drops_fractional_seconds_only() {
        assert_eq!(
            short_time("2026-05-01T12:00:00.123456Z"),
            "2026-05-01T12:00:00Z"
        );
        assert_eq!(
            short_time("2026-05-01T12:00:00.5+02:00"),
            "2026-05-01T12:00:00+02:00"
        );
        assert_eq!(short_time("2026-05-01T12:00:00Z"), "2026-05-01T12:00:00Z");
        assert_eq!(short_time("yesterday"), "yesterday");
    }

    #[test]
    fn json_formats_differ_only_in_layout() {
        let value = serde_json::json!({"a": [1]});
        assert_eq!(
            to_json(OutputFormat::Json, &value).unwrap(),
            "{\"a\":[1]}\n"
        );
        assert!(to_json(OutputFormat::JsonPretty, &value)
            .unwrap()
            .contains("\n  \"a\""));
    }
}
