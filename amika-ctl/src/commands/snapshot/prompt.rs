//! The questions `snapshot create` asks on a terminal.
//!
//! They read any `BufRead` and write any `Write`, so tests drive them with byte strings; in
//! use they read stdin and write stderr, which keeps stdout for the result alone. End of
//! input at any question means the user walked away: the caller cancels.

use std::io::{self, BufRead, Write};

use amika_api::{names, SnapshotMode};

/// The capture modes in menu order; the first is the recommended one and the answer to an
/// empty line.
const MODES: [(SnapshotMode, &str); 3] = [
    (
        SnapshotMode::ScrubAndDelete,
        "remove injected secrets, capture, then delete the source sandbox (recommended)",
    ),
    (
        SnapshotMode::Scrub,
        "remove injected secrets from the capture; the source keeps running",
    ),
    (
        SnapshotMode::Full,
        "capture as-is, secrets included; the source keeps running",
    ),
];

/// Shown before confirming a `full` capture, in place of the scrub preview.
pub const FULL_WARNING: &str = "warning: a full snapshot captures the sandbox as it is: any \
     secrets present in it are baked into the snapshot and into every sandbox booted from it\n";

/// The numbered menu of capture modes.
pub fn menu() -> String {
    let mut text = String::from("Capture mode:\n");
    for (number, (mode, what)) in MODES.iter().enumerate() {
        text.push_str(&format!("  {}) {}: {what}\n", number + 1, mode.as_str()));
    }
    text
}

/// Reads a menu answer: a number, a mode's name (with `_` or `-`), or nothing for the
/// recommended mode.
pub fn parse_choice(answer: &str) -> Option<SnapshotMode> {
    let answer = answer.trim().to_ascii_lowercase().replace('-', "_");
    if answer.is_empty() {
        return Some(MODES[0].0);
    }
    MODES
        .iter()
        .enumerate()
        .find(|(index, (mode, _))| answer == (index + 1).to_string() || answer == mode.as_str())
        .map(|(_, (mode, _))| *mode)
}

/// Shows the menu and asks until the answer is a mode; `None` at end of input.
pub fn choose_mode(
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> io::Result<Option<SnapshotMode>> {
    write!(out, "{}", menu())?;
    loop {
        write!(out, "Mode [1]: ")?;
        out.flush()?;
        let Some(answer) = read_answer(input, out)? else {
            return Ok(None);
        };
        match parse_choice(&answer) {
            Some(mode) => return Ok(Some(mode)),
            None => writeln!(out, "'{answer}' is not one of the modes; answer 1, 2 or 3")?,
        }
    }
}

/// Asks until the answer is a valid snapshot name; `None` at end of input.
pub fn ask_name(input: &mut impl BufRead, out: &mut impl Write) -> io::Result<Option<String>> {
    loop {
        write!(out, "Snapshot name: ")?;
        out.flush()?;
        let Some(name) = read_answer(input, out)? else {
            return Ok(None);
        };
        if name.is_empty() {
            continue;
        }
        match names::check(&name) {
            Ok(()) => return Ok(Some(name)),
            Err(why) => writeln!(out, "{why}")?,
        }
    }
}

/// Asks a yes/no `question`; only `y` or `yes` is a yes.
pub fn confirm(input: &mut impl BufRead, out: &mut impl Write, question: &str) -> io::Result<bool> {
    write!(out, "{question} [y/N] ")?;
    out.flush()?;
    let answer = read_answer(input, out)?.unwrap_or_default();
    Ok(matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// One trimmed line of input; `None` at end of input, after moving the cursor past the
/// prompt so whatever is printed next starts on a line of its own.
fn read_answer(input: &mut impl BufRead, out: &mut impl Write) -> io::Result<Option<String>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        writeln!(out)?;
        return Ok(None);
    }
    Ok(Some(line.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T>(
        answers: &str,
        ask: impl FnOnce(&mut &[u8], &mut Vec<u8>) -> io::Result<T>,
    ) -> (T, String) {
        let mut input = answers.as_bytes();
        let mut out = Vec::new();
        let result = ask(&mut input, &mut out).unwrap();
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn menu_lists_the_recommended_mode_first() {
        let menu = menu();
        let lines: Vec<&str> = menu.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[1],
            "  1) scrub_and_delete: remove injected secrets, capture, then delete the source \
             sandbox (recommended)"
        );
        assert!(lines[2].starts_with("  2) scrub: "), "{menu}");
        assert!(lines[3].starts_with("  3) full: capture as-is"), "{menu}");
    }

    #[test]
    fn choices_are_numbers_or_names_and_enter_takes_the_first() {
        assert_eq!(parse_choice("\n"), Some(SnapshotMode::ScrubAndDelete));
        assert_eq!(parse_choice(" 1 "), Some(SnapshotMode::ScrubAndDelete));
        assert_eq!(parse_choice("2"), Some(SnapshotMode::Scrub));
        assert_eq!(parse_choice("3\n"), Some(SnapshotMode::Full));
        assert_eq!(
            parse_choice("Scrub-And-Delete"),
            Some(SnapshotMode::ScrubAndDelete)
        );
        assert_eq!(parse_choice("full"), Some(SnapshotMode::Full));
        for bad in ["0", "4", "y", "scrubbed", "1 2"] {
            assert_eq!(parse_choice(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_bad_choice_is_asked_again() {
        let (mode, shown) = run("9\nscrub\n", |i, o| choose_mode(i, o));
        assert_eq!(mode, Some(SnapshotMode::Scrub));
        assert!(shown.contains("'9' is not one of the modes"), "{shown}");
        assert_eq!(shown.matches("Mode [1]: ").count(), 2);
    }

    #[test]
    fn end_of_input_gives_up() {
        assert_eq!(run("", |i, o| choose_mode(i, o)).0, None);
        assert_eq!(run("\n", |i, o| ask_name(i, o)).0, None);
        assert!(!run("", |i, o| confirm(i, o, "Go?")).0);
    }

    #[test]
    fn names_are_checked_before_they_are_taken() {
        let (name, shown) = run("\nBad_Name\n base-v1 \n", |i, o| ask_name(i, o));
        assert_eq!(name.as_deref(), Some("base-v1"));
        assert!(shown.contains("name 'Bad_Name' contains"), "{shown}");
        assert_eq!(shown.matches("Snapshot name: ").count(), 3);
    }

    #[test]
    fn only_yes_confirms() {
        for (answer, expected) in [
            ("y\n", true),
            ("YES\n", true),
            ("\n", false),
            ("n\n", false),
        ] {
            let (yes, shown) = run(answer, |i, o| {
                confirm(i, o, "Create snapshot a of b (full)?")
            });
            assert_eq!(yes, expected, "{answer:?}");
            assert_eq!(shown, "Create snapshot a of b (full)? [y/N] ");
        }
        assert!(!run("yes please\n", |i, o| confirm(i, o, "Go?")).0);
    }
}
