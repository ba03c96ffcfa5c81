//! Edits as a model writes them, and how they land in a file.
//!
//! The format is search/replace blocks, each after the path of the file it changes:
//!
//! ```text
//! src/parse.py
//! <<<<<<< SEARCH
//!     if n <= len(items):
//! =======
//!     if n < len(items):
//! >>>>>>> REPLACE
//! ```
//!
//! An empty SEARCH part creates a new file with the REPLACE part as its text. Small models
//! follow this format well; they copy the search text less well, so a search text is matched
//! exactly first, then ignoring trailing whitespace, then ignoring indentation too (the
//! replacement is then re-indented to the file's indentation). A search text that matches
//! nowhere, or in more than one place, is a [`Miss`] that names the nearest lines of the file,
//! so that the model can be shown where it went wrong.
//!
//! This module only parses and matches text; [`crate::workspace`] applies edits to files.

use std::fmt;

/// One search/replace block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The file as the model named it.
    pub path: String,
    /// Lines to find (empty: create the file).
    pub search: String,
    /// Lines to put in their place.
    pub replace: String,
}

/// The edits in a model's answer, and what in it could not be read as an edit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub edits: Vec<Edit>,
    /// Sentences for the model: a block without a file, a block cut off.
    pub problems: Vec<String>,
}

/// How closely a search text matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fit {
    Exact,
    /// Equal once trailing whitespace is ignored.
    TrailingWhitespace,
    /// Equal once all leading and trailing whitespace is ignored.
    Indentation,
}

/// Why an edit did not land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The search text is nowhere in the file; `nearest` are the file's lines most like it,
    /// numbered.
    NotFound { nearest: String },
    /// The search text is in several places (1-based line numbers of each).
    Ambiguous { lines: Vec<usize> },
    /// An empty search text creates a file, and this one exists.
    Exists,
    /// A non-empty search text names a file that does not exist.
    NoFile,
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::NotFound { nearest } if nearest.is_empty() => {
                f.write_str("the SEARCH lines are not in the file")
            }
            Miss::NotFound { nearest } => {
                write!(f, "the SEARCH lines are not in the file; the nearest lines are:\n{nearest}")
            }
            Miss::Ambiguous { lines } => {
                let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
                write!(
                    f,
                    "the SEARCH lines are in {} places (lines {}); quote more lines so that \
                     they match one place",
                    lines.len(),
                    lines.join(", ")
                )
            }
            Miss::Exists => f.write_str(
                "the file exists, and an empty SEARCH creates a file; quote the lines to change",
            ),
            Miss::NoFile => {
                f.write_str("the file does not exist; to create it, leave the SEARCH part empty")
            }
        }
    }
}

/// Reads the search/replace blocks of `text`. Anything outside blocks is commentary, except the
/// last non-blank line before a block, which names its file (with decoration such as
/// backticks, bold or a trailing colon removed); a block with no such line takes the previous
/// block's file.
pub fn parse(text: &str) -> Parsed {
    enum State {
        Outside,
        Search,
        Replace,
    }
    let mut parsed = Parsed::default();
    let mut state = State::Outside;
    let mut candidate: Option<String> = None;
    let mut previous: Option<String> = None;
    let (mut path, mut search, mut replace) = (None::<String>, Vec::new(), Vec::new());
    for line in text.lines() {
        match state {
            State::Outside => {
                if is_marker(line, '<', "SEARCH") {
                    path = candidate.take().or_else(|| previous.clone());
                    if path.is_none() {
                        parsed.problems.push(
                            "a SEARCH block has no file: write the file's path on the line \
                             before `<<<<<<< SEARCH`"
                                .into(),
                        );
                    }
                    search.clear();
                    replace.clear();
                    state = State::Search;
                } else if let Some(named) = path_of(line) {
                    candidate = Some(named);
                } else if !line.trim().is_empty() && !line.trim_start().starts_with("```") {
                    candidate = None;
                }
            }
            State::Search => {
                if is_divider(line) {
                    state = State::Replace;
                } else {
                    search.push(line);
                }
            }
            State::Replace => {
                if is_marker(line, '>', "REPLACE") {
                    if let Some(path) = path.take() {
                        parsed.edits.push(Edit {
                            path: path.clone(),
                            search: block(&search),
                            replace: block(&replace),
                        });
                        previous = Some(path);
                    }
                    state = State::Outside;
                } else {
                    replace.push(line);
                }
            }
        }
    }
    match state {
        State::Outside => {}
        State::Search | State::Replace => parsed.problems.push(format!(
            "the block for {} is cut off: end each block with `>>>>>>> REPLACE`",
            path.as_deref().unwrap_or("a file")
        )),
    }
    parsed
}

/// `content` with `edit` applied, and how closely its search text matched.
pub fn apply(content: Option<&str>, edit: &Edit) -> Result<(String, Fit), Miss> {
    let search: Vec<&str> = trim_blank_ends(&edit.search);
    let replace: Vec<&str> = trim_blank_ends(&edit.replace);
    let Some(content) = content else {
        if search.is_empty() {
            return Ok((joined(&replace, true), Fit::Exact));
        }
        return Err(Miss::NoFile);
    };
    if search.is_empty() {
        if content.trim().is_empty() {
            return Ok((joined(&replace, true), Fit::Exact));
        }
        return Err(Miss::Exists);
    }
    let lines: Vec<&str> = content.lines().collect();
    let fits: [(Fit, Normalise); 3] = [
        (Fit::Exact, |l| l),
        (Fit::TrailingWhitespace, str::trim_end),
        (Fit::Indentation, str::trim),
    ];
    for (fit, norm) in fits {
        let starts = find(&lines, &search, norm);
        match starts.as_slice() {
            [] => continue,
            [start] => {
                let replace = match fit {
                    Fit::Indentation => reindent(&replace, search[0], lines[*start]),
                    _ => replace.iter().map(|l| (*l).to_owned()).collect(),
                };
                let mut out: Vec<&str> = lines[..*start].to_vec();
                out.extend(replace.iter().map(String::as_str));
                out.extend(&lines[start + search.len()..]);
                return Ok((joined(&out, content.ends_with('\n') || content.is_empty()), fit));
            }
            many => return Err(Miss::Ambiguous { lines: many.iter().map(|s| s + 1).collect() }),
        }
    }
    Err(Miss::NotFound { nearest: nearest(&lines, &search) })
}

/// How lines are compared at one level of [`Fit`].
type Normalise = fn(&str) -> &str;

/// Where `search` starts in `lines` when both are compared through `norm`.
fn find(lines: &[&str], search: &[&str], norm: Normalise) -> Vec<usize> {
    if search.len() > lines.len() {
        return Vec::new();
    }
    (0..=lines.len() - search.len())
        .filter(|&start| search.iter().zip(&lines[start..]).all(|(s, l)| norm(s) == norm(l)))
        .collect()
}

/// The window of the file most like `search` (lines compared trimmed, by the share of their
/// characters that agree), with a line of margin either side, numbered from 1. Empty when
/// nothing in the file is even half alike.
fn nearest(lines: &[&str], search: &[&str]) -> String {
    let alike = |a: &str, b: &str| -> f32 {
        let (a, b) = (a.trim(), b.trim());
        if a == b {
            return 1.0;
        }
        if a.is_empty() || b.is_empty() {
            return 0.0;
        }
        similar::TextDiff::from_chars(a, b).ratio()
    };
    let mut best = (0usize, 0.0f32);
    for start in 0..lines.len() {
        let window = &lines[start..lines.len().min(start + search.len())];
        let score: f32 = search.iter().zip(window).map(|(s, l)| alike(s, l)).sum();
        if score > best.1 {
            best = (start, score);
        }
    }
    if best.1 < 0.5 * search.len() as f32 {
        return String::new();
    }
    let from = best.0.saturating_sub(1);
    let to = lines.len().min(best.0 + search.len() + 1);
    (from..to).map(|i| format!("{:>5} | {}\n", i + 1, lines[i])).collect()
}

/// `replace` moved from the indentation of `searched` (the search text's first line) to that
/// of `found` (the file's line it matched).
fn reindent(replace: &[&str], searched: &str, found: &str) -> Vec<String> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let (from, to) = (indent(searched), indent(found));
    let pad = &found[..to];
    replace
        .iter()
        .map(|line| {
            if line.trim().is_empty() {
                return String::new();
            }
            let own = indent(line);
            let kept = own.saturating_sub(from);
            let rest = &line[own..];
            let extra: String = line[..own].chars().skip(own - kept).collect();
            format!("{pad}{extra}{rest}")
        })
        .collect()
}

/// The lines of a block without the blank lines models put around it.
fn trim_blank_ends(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(lines.len());
    let end = lines.iter().rposition(|l| !l.trim().is_empty()).map_or(start, |i| i + 1);
    lines[start..end].to_vec()
}

fn joined(lines: &[&str], newline_at_end: bool) -> String {
    let mut out = lines.join("\n");
    if newline_at_end && !out.is_empty() {
        out.push('\n');
    }
    out
}

fn block(lines: &[&str]) -> String {
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// `<<<<<<< SEARCH`, `>>>>>>> REPLACE` (5 to 9 marks, the word optional after the marks).
fn is_marker(line: &str, mark: char, word: &str) -> bool {
    let line = line.trim();
    let marks = line.chars().take_while(|c| *c == mark).count();
    (5..=9).contains(&marks) && {
        let rest = line[marks..].trim();
        rest.is_empty() || rest.eq_ignore_ascii_case(word)
    }
}

fn is_divider(line: &str) -> bool {
    let line = line.trim();
    (5..=9).contains(&line.len()) && line.chars().all(|c| c == '=')
}

/// The path a line names, if it reads as one: a single word with a dot or a slash in it,
/// possibly wrapped in backticks, bold or a heading, or followed by a colon.
fn path_of(line: &str) -> Option<String> {
    let mut text = line.trim();
    for prefix in ["#", "File:", "file:", "Path:", "path:"] {
        while let Some(rest) = text.strip_prefix(prefix) {
            text = rest.trim_start();
        }
    }
    let text = text
        .trim_matches(|c| c == '`' || c == '*' || c == '"' || c == '\'')
        .trim_end_matches(':')
        .trim_matches(|c| c == '`' || c == '*');
    let looks_like_path = !text.is_empty()
        && !text.contains(char::is_whitespace)
        && (text.contains('.') || text.contains('/'))
        && !text.starts_with("```")
        && !text.chars().all(|c| c == '.' || c == '/');
    // A brief's excerpt header names lines too (`src/a.py:10-24`).
    let text = match text.rsplit_once(':') {
        Some((path, lines))
            if !lines.is_empty() && lines.chars().all(|c| c.is_ascii_digit() || c == '-') =>
        {
            path
        }
        _ => text,
    };
    looks_like_path.then(|| text.trim_start_matches("./").to_owned())
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Parses `answer` and shows each edit and problem.
    fn check_parse(answer: &str, expected: Expect) {
        let parsed = parse(answer);
        let mut shown = String::new();
        for edit in &parsed.edits {
            shown.push_str(&format!("{}\n-{:?}\n+{:?}\n", edit.path, edit.search, edit.replace));
        }
        for problem in &parsed.problems {
            shown.push_str(&format!("problem: {problem}\n"));
        }
        expected.assert_eq(&shown);
    }

    /// Applies one edit to `file` (`None`: no such file) and shows the result or the miss.
    fn check_apply(file: Option<&str>, search: &str, replace: &str, expected: Expect) {
        let edit = Edit { path: "f.py".into(), search: search.into(), replace: replace.into() };
        let shown = match apply(file, &edit) {
            Ok((text, fit)) => format!("{fit:?}\n{text}"),
            Err(miss) => format!("miss: {miss}"),
        };
        expected.assert_eq(&shown);
    }

    #[test]
    fn a_block_after_its_path() {
        check_parse(
            "src/a.py\n<<<<<<< SEARCH\n    return x\n=======\n    return y\n>>>>>>> REPLACE\n",
            expect![[r#"
                src/a.py
                -"    return x\n"
                +"    return y\n"
            "#]],
        );
    }

    #[test]
    fn decorated_paths_fences_and_commentary() {
        check_parse(
            "The bug is in the loop.\n\n**`src/a.py`**:\n```python\n<<<<<<< SEARCH\nfor i in range(n + 1):\n=======\nfor i in range(n):\n>>>>>>> REPLACE\n```\n\n### lib/b.py\n```\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\nDone.",
            expect![[r#"
                src/a.py
                -"for i in range(n + 1):\n"
                +"for i in range(n):\n"
                lib/b.py
                -"a\n"
                +"b\n"
            "#]],
        );
    }

    #[test]
    fn an_excerpt_header_names_its_file() {
        check_parse(
            "### src/a.py:10-24\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n",
            expect![[r#"
                src/a.py
                -"x\n"
                +"y\n"
            "#]],
        );
    }

    #[test]
    fn a_block_without_a_path_takes_the_previous_file() {
        check_parse(
            "./a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n<<<<<<< SEARCH\ny = 1\n=======\ny = 2\n>>>>>>> REPLACE\n",
            expect![[r#"
                a.py
                -"x = 1\n"
                +"x = 2\n"
                a.py
                -"y = 1\n"
                +"y = 2\n"
            "#]],
        );
    }

    #[test]
    fn a_new_file_has_an_empty_search() {
        check_parse(
            "tests/test_new.py\n<<<<<<< SEARCH\n=======\ndef test_it():\n    assert True\n>>>>>>> REPLACE",
            expect![[r#"
                tests/test_new.py
                -""
                +"def test_it():\n    assert True\n"
            "#]],
        );
    }

    #[test]
    fn a_block_with_no_file_and_a_cut_off_block_are_problems() {
        check_parse(
            "Here is the fix:\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\nsrc/c.py\n<<<<<<< SEARCH\nc\n=======\nd",
            expect![[r#"
                problem: a SEARCH block has no file: write the file's path on the line before `<<<<<<< SEARCH`
                problem: the block for src/c.py is cut off: end each block with `>>>>>>> REPLACE`
            "#]],
        );
    }

    #[test]
    fn prose_without_blocks_is_no_edit() {
        check_parse("Change `<=` to `<` in src/a.py.", expect![""]);
    }

    #[test]
    fn an_exact_match_replaces_those_lines() {
        check_apply(
            Some("def f(n):\n    if n <= 3:\n        return 1\n    return 0\n"),
            "    if n <= 3:\n",
            "    if n < 3:\n",
            expect![[r#"
                Exact
                def f(n):
                    if n < 3:
                        return 1
                    return 0
            "#]],
        );
    }

    #[test]
    fn trailing_whitespace_is_ignored_and_blank_ends_are_dropped() {
        check_apply(
            Some("a = 1   \nb = 2\n"),
            "\na = 1\n\n",
            "a = 3\n",
            expect![[r#"
                TrailingWhitespace
                a = 3
                b = 2
            "#]],
        );
    }

    #[test]
    fn indentation_is_ignored_and_the_replacement_takes_the_files() {
        check_apply(
            Some("class A:\n    def f(self):\n        if x:\n            return 1\n"),
            "if x:\n    return 1\n",
            "if not x:\n    return 2\n",
            expect![[r#"
                Indentation
                class A:
                    def f(self):
                        if not x:
                            return 2
            "#]],
        );
    }

    #[test]
    fn a_file_without_a_final_newline_keeps_it_that_way() {
        check_apply(
            Some("x = 1\ny = 2"),
            "y = 2",
            "y = 3",
            expect![[r#"
            Exact
            x = 1
            y = 3"#]],
        );
    }

    #[test]
    fn a_miss_shows_the_nearest_lines() {
        check_apply(
            Some(
                "def f(n):\n    total = 0\n    for i in range(n + 1):\n        total += i\n    return total\n",
            ),
            "    for i in range(n+1):\n        total += i\n",
            "",
            expect![[r#"
                miss: the SEARCH lines are not in the file; the nearest lines are:
                    2 |     total = 0
                    3 |     for i in range(n + 1):
                    4 |         total += i
                    5 |     return total
            "#]],
        );
    }

    #[test]
    fn a_search_in_two_places_is_ambiguous() {
        check_apply(
            Some("x = 1\ny = 2\nx = 1\n"),
            "x = 1\n",
            "x = 0\n",
            expect![
                "miss: the SEARCH lines are in 2 places (lines 1, 3); quote more lines so that they match one place"
            ],
        );
    }

    #[test]
    fn new_files_and_their_mistakes() {
        check_apply(
            None,
            "",
            "print('hi')\n",
            expect![[r#"
            Exact
            print('hi')
        "#]],
        );
        check_apply(
            None,
            "x = 1\n",
            "x = 2\n",
            expect!["miss: the file does not exist; to create it, leave the SEARCH part empty"],
        );
        check_apply(
            Some("x = 1\n"),
            "",
            "x = 2\n",
            expect![
                "miss: the file exists, and an empty SEARCH creates a file; quote the lines to change"
            ],
        );
    }

    #[test]
    fn an_empty_replace_deletes_the_lines() {
        check_apply(
            Some("a\nb\nc\n"),
            "b\n",
            "",
            expect![[r#"
            Exact
            a
            c
        "#]],
        );
    }
}
