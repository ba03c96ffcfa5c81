//! Anchors: what a problem names exactly — stack frames of Python, Rust, JavaScript/Node,
//! Java and Go, compiler-style `path:line` references, paths and identifiers. An anchor that
//! matches the context beats any text similarity.

use std::sync::LazyLock;

use regex::Regex;

/// Where a trace or a message points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The file as the trace names it (absolute, relative, or for Java a path derived from the
    /// class name, `com/acme/Bank.java`).
    pub path: String,
    pub line: Option<u32>,
    /// The function the frame is in, as the trace names it (last segment).
    pub function: Option<String>,
}

/// The frames of every trace in `text`, innermost (closest to the error) first within each
/// trace, traces in the order they appear; compiler-style references (`src/a.rs:10:5`) after
/// them.
pub fn frames(text: &str) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut python: Vec<Frame> = Vec::new();
    let mut pending_function: Option<String> = None;
    let flush_python = |python: &mut Vec<Frame>, out: &mut Vec<Frame>| {
        // Python prints the outermost frame first.
        out.extend(python.drain(..).rev());
    };
    let mut references = Vec::new();
    for line in text.lines() {
        if let Some(c) = PYTHON.captures(line) {
            python.push(Frame {
                path: c["path"].to_owned(),
                line: c["line"].parse().ok(),
                function: c.name("func").map(|f| f.as_str().to_owned()).filter(|f| f != "<module>"),
            });
            continue;
        }
        if !python.is_empty() && !line.starts_with(' ') && !line.trim().is_empty() {
            flush_python(&mut python, &mut out);
        }
        if let Some(c) = RUST_PANIC.captures(line) {
            out.push(frame(&c["path"], &c["line"], None));
        } else if let Some(c) = RUST_FRAME_FN.captures(line) {
            pending_function = Some(last_segment(&c["func"]));
        } else if let Some(c) = RUST_FRAME_AT.captures(line) {
            out.push(frame(&c["path"], &c["line"], pending_function.take()));
        } else if let Some(c) = JAVA.captures(line) {
            let qualified = &c["func"];
            let mut parts: Vec<&str> = qualified.split('.').collect();
            let function = parts.pop().map(str::to_owned);
            parts.pop(); // the class, named by the file
            let file = &c["file"];
            let path = if parts.is_empty() {
                file.to_owned()
            } else {
                format!("{}/{file}", parts.join("/"))
            };
            out.push(Frame { path, line: c["line"].parse().ok(), function });
        } else if let Some(c) = NODE.captures(line) {
            let function = c.name("func").map(|f| last_segment(f.as_str()));
            out.push(frame(c["path"].trim_start_matches("file://"), &c["line"], function));
        } else if let Some(c) = GO_FUNC.captures(line) {
            pending_function = Some(last_segment(&c["func"]));
        } else if let Some(c) = GO_AT.captures(line) {
            out.push(frame(&c["path"], &c["line"], pending_function.take()));
        } else {
            for c in REFERENCE.captures_iter(line) {
                let line = c.name("line").or_else(|| c.name("line2")).map_or("", |m| m.as_str());
                references.push(frame(&c["path"], line, None));
            }
        }
    }
    flush_python(&mut python, &mut out);
    out.extend(references);
    out
}

fn frame(path: &str, line: &str, function: Option<String>) -> Frame {
    Frame { path: path.to_owned(), line: line.parse().ok(), function }
}

/// `std::panicking::begin_panic` → `begin_panic`; `Foo.bar` → `bar`; `<closure>` stays.
fn last_segment(qualified: &str) -> String {
    let base = qualified.trim_end_matches("()");
    base.rsplit(['.', ':']).next().unwrap_or(base).to_owned()
}

static PYTHON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?"#)
        .expect("valid")
});
/// `thread 'main' panicked at src/main.rs:10:5:` (and the older `panicked at 'msg', path`).
static RUST_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"panicked at (?:'.*', )?(?P<path>[^\s:']+\.rs):(?P<line>\d+):\d+").expect("valid")
});
/// `   3: stack::Stack<T>::peek` in a backtrace.
static RUST_FRAME_FN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*\d+: (?:0x[0-9a-f]+ - )?(?P<func>[\w:<>, &\[\]{}#]+?)(?:::h[0-9a-f]{16})?$")
        .expect("valid")
});
/// `             at ./src/stack.rs:12:9` in a backtrace.
static RUST_FRAME_AT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+at (?P<path>\S+\.rs):(?P<line>\d+)(?::\d+)?\s*$").expect("valid")
});
/// `    at com.acme.Bank.withdraw(Bank.java:42)`.
static JAVA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*at (?:[\w.$/@-]+/)?(?P<func>[\w$.<>]+)\((?P<file>[\w$-]+\.(?:java|kt|scala|groovy)):(?P<line>\d+)\)")
        .expect("valid")
});
/// `    at parse (/srv/app/lib/parse.js:10:5)` or `    at /srv/app/index.js:3:1`.
static NODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*at (?:async )?(?:(?P<func>[^\s()]+)(?: \[as [^\]]+\])? \()?(?P<path>[^\s()]+\.(?:js|mjs|cjs|jsx|ts|mts|cts|tsx)):(?P<line>\d+):\d+\)?\s*$")
        .expect("valid")
});
/// `main.(*Server).Start(0xc000010000)` in a goroutine dump.
static GO_FUNC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:panic\()?(?P<func>[\w./*()-]+\.[\w*()]+)\(.*\)$").expect("valid")
});
/// `\t/home/u/app/server.go:42 +0x1d`.
static GO_AT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+(?P<path>\S+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?\s*$").expect("valid")
});
/// `src/a.rs:10:5`, `--> src/a.rs:10:5`, `app.go:42: message`, `a.ts(10,5)`.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<path>[\w./\\-]*[\w-]\.[A-Za-z]{1,5})(?::(?P<line>\d+)|\((?P<line2>\d+),\d+\))")
        .expect("valid")
});

/// Paths and file names the problem mentions (`src/parser.rs`, `decoder.py`).
pub fn paths(text: &str) -> Vec<String> {
    let mut out: Vec<String> = PATH
        .find_iter(text)
        .map(|m| m.as_str().trim_start_matches("./").to_owned())
        .filter(|p| {
            let ext = p.rsplit('.').next().unwrap_or("");
            // Version numbers and sentences ending in a dot are not paths.
            ext.chars().any(|c| c.is_ascii_alphabetic()) && !p.starts_with("e.g")
        })
        .collect();
    out.dedup();
    out
}

static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:[\w.-]+/)*[\w-]+\.(?:rs|py|pyi|js|mjs|cjs|jsx|ts|tsx|go|java|kt|c|h|cc|cpp|hpp|cs|rb|php|swift|md|toml|yaml|yml|json|sh|sql|html|css)\b")
        .expect("valid")
});

/// Words of the problem that look like code identifiers: `snake_case`, `camelCase`, `Type::name`,
/// `obj.method`, `call()` or `` `quoted` ``. Returned as their last segment.
pub fn identifiers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in IDENT.find_iter(text) {
        let word = m.as_str();
        let after = &text[m.end()..];
        let before = &text[..m.start()];
        let called = after.starts_with('(');
        let quoted = before.ends_with('`') || after.starts_with('`');
        let qualified = word.contains("::") || word.contains('.');
        let last = word.rsplit(['.', ':']).next().unwrap_or(word);
        let shaped = last.contains('_')
            || last.chars().skip(1).any(|c| c.is_ascii_uppercase())
                && last.chars().any(|c| c.is_ascii_lowercase());
        // A rule of underscores (pytest's test header) names nothing.
        if last.len() >= 3
            && last.chars().any(|c| c.is_ascii_alphanumeric())
            && (called || quoted || qualified || shaped)
            && !out.iter().any(|o| o == last)
        {
            out.push(last.to_owned());
        }
    }
    out
}

static IDENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z_][A-Za-z0-9_]*(?:(?:::|\.)[A-Za-z_][A-Za-z0-9_]*)*").expect("valid")
});

/// Text the problem quotes (`'No closing quotation'`, `"invalid width"`): error messages and
/// literals that the code producing them holds word for word. Ellipses split a quote in parts.
pub fn quotes(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in QUOTE.captures_iter(text) {
        let Some(quoted) = c.name("single").or_else(|| c.name("double")).or_else(|| c.name("tick"))
        else {
            continue;
        };
        for part in quoted.as_str().split('…').flat_map(|p| p.split("...")) {
            let part = part.trim();
            if part.split_whitespace().count() >= 2 && !out.iter().any(|o| o == part) {
                out.push(part.to_owned());
            }
        }
    }
    out
}

/// A quote opens after a space, a bracket or punctuation, and closes before one, so that
/// apostrophes (`doesn't`) do not pair up.
static QUOTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:^|[\s(\[:=,])(?:'(?P<single>[^'
]{6,160})'|"(?P<double>[^"
]{6,160})"|`(?P<tick>[^`
]{6,160})`)(?:$|[\s).,;:!?\]])"#,
    )
    .expect("valid")
});

/// Whether a path is a test file (`tests/`, `test_x.py`, `x_test.go`, `x.spec.ts`, `XTest.java`).
pub fn is_test_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let mut parts = lower.split('/');
    let file = parts.next_back().unwrap_or("");
    let in_test_dir =
        parts.any(|d| matches!(d, "test" | "tests" | "testing" | "__tests__" | "spec" | "specs"));
    let stem = file.split('.').next().unwrap_or(file);
    in_test_dir
        || stem.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_tests")
        || file.contains(".test.")
        || file.contains(".spec.")
        || path
            .rsplit('/')
            .next()
            .is_some_and(|f| f.ends_with("Test.java") || f.ends_with("Tests.java"))
}

/// How well a trace's path names a context file: the number of trailing path components the
/// two share (0 if the file names differ).
pub fn path_match(trace_path: &str, file: &str) -> usize {
    let a: Vec<&str> =
        trace_path.split(['/', '\\']).filter(|s| !s.is_empty() && *s != ".").collect();
    let b: Vec<&str> = file.split(['/', '\\']).filter(|s| !s.is_empty() && *s != ".").collect();
    a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Compares every anchor found in `text` with `expected`: the frames (`path:line in
    /// function`), then the paths, identifiers and quotes.
    fn check(text: &str, expected: Expect) {
        let mut out = String::new();
        for frame in frames(text) {
            let line = frame.line.map(|l| format!(":{l}")).unwrap_or_default();
            let function = frame.function.map(|f| format!(" in {f}")).unwrap_or_default();
            out.push_str(&format!("frame {}{line}{function}\n", frame.path));
        }
        for path in paths(text) {
            out.push_str(&format!("path {path}\n"));
        }
        for id in identifiers(text) {
            out.push_str(&format!("identifier {id}\n"));
        }
        for quote in quotes(text) {
            out.push_str(&format!("quote {quote}\n"));
        }
        expected.assert_eq(&out);
    }

    #[test]
    fn python_tracebacks_innermost_first() {
        check(
            r#"Traceback (most recent call last):
  File "/srv/app/main.py", line 12, in <module>
    run()
  File "/srv/app/main.py", line 8, in run
    load("x")
  File "/usr/lib/python3.11/json/decoder.py", line 355, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"#,
            expect![[r#"
                frame /usr/lib/python3.11/json/decoder.py:355 in raw_decode
                frame /srv/app/main.py:8 in run
                frame /srv/app/main.py:12
                path srv/app/main.py
                path usr/lib/python3.11/json/decoder.py
                identifier run
                identifier load
                identifier raw_decode
                identifier JSONDecodeError
                identifier value
                quote Expecting value
            "#]],
        );
    }

    #[test]
    fn pytest_failures() {
        check(
            r#"____________________________ test_line_total ____________________________

    def test_line_total():
>       assert line_total(3, 2.5) == 7.5
E       assert 5.5 == 7.5
E        +  where 5.5 = line_total(3, 2.5)

tests/test_invoice.py:6: AssertionError
=========================== short test summary info ============================
FAILED tests/test_invoice.py::test_line_total - assert 5.5 == 7.5
"#,
            expect![[r#"
                frame tests/test_invoice.py:6
                path tests/test_invoice.py
                identifier test_line_total
                identifier line_total
                identifier AssertionError
            "#]],
        );
    }

    #[test]
    fn rust_panics_and_backtraces() {
        check(
            "thread 'main' panicked at src/stack.rs:14:9:\nindex out of bounds: the len is 0 but the index is 18446744073709551615\nstack backtrace:\n   0: rust_begin_unwind\n             at /rustc/abc/library/std/src/panicking.rs:665:5\n   1: demo::Stack<T>::peek\n             at ./src/stack.rs:14:9\n   2: demo::main\n             at ./src/main.rs:5:5\n",
            expect![[r#"
                frame src/stack.rs:14
                frame /rustc/abc/library/std/src/panicking.rs:665 in rust_begin_unwind
                frame ./src/stack.rs:14 in peek
                frame ./src/main.rs:5 in main
                path src/stack.rs
                path rustc/abc/library/std/src/panicking.rs
                path src/stack.rs
                path src/main.rs
                identifier rust_begin_unwind
                identifier Stack
                identifier main
            "#]],
        );
    }

    #[test]
    fn node_java_and_go_traces() {
        check(
            "TypeError: Cannot read properties of undefined (reading 'id')\n    at getUser (/srv/app/lib/users.js:10:17)\n    at Object.<anonymous> (/srv/app/index.js:3:1)\n    at node:internal/main:1:1\n",
            expect![[r#"
                frame /srv/app/lib/users.js:10 in getUser
                frame /srv/app/index.js:3 in <anonymous>
                path srv/app/lib/users.js
                path srv/app/index.js
                identifier TypeError
                identifier getUser
            "#]],
        );
        check(
            "Exception in thread \"main\" java.lang.IllegalStateException: overdrawn\n\tat com.acme.bank.Account.withdraw(Account.java:42)\n\tat com.acme.bank.Main.main(Main.java:7)\n",
            expect![[r#"
                frame com/acme/bank/Account.java:42 in withdraw
                frame com/acme/bank/Main.java:7 in main
                path Account.java
                path Main.java
                identifier IllegalStateException
                identifier withdraw
                identifier java
                identifier main
            "#]],
        );
        check(
            "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.(*Server).Start(0xc000010000)\n\t/home/u/app/server.go:42 +0x1d\nmain.main()\n\t/home/u/app/main.go:9 +0x25\nexit status 2\n",
            expect![[r#"
                frame /home/u/app/server.go:42 in Start
                frame /home/u/app/main.go:9 in main
                path home/u/app/server.go
                path home/u/app/main.go
                identifier Start
                identifier main
            "#]],
        );
    }

    #[test]
    fn compiler_references_paths_and_identifiers() {
        check(
            "error[E0425]: cannot find value `x`\n --> src/lib.rs:10:5\n",
            expect![[r#"
            frame src/lib.rs:10
            path src/lib.rs
        "#]],
        );
        check(
            "The bug is in parser/header.rs, not in v1.2.3 or e.g. main.",
            expect![[r#"
            path parser/header.rs
        "#]],
        );
        check(
            "Calling `flush` after parse_header() in Stack::peek and getUserName fails; the Cache.get path too. Plain words stay out.",
            expect![[r#"
                identifier flush
                identifier parse_header
                identifier peek
                identifier getUserName
                identifier get
            "#]],
        );
    }

    #[test]
    fn quotes_and_test_paths() {
        check(
            "It doesn't work: raises 'No closing quotation' and \"mutable default ... is not allowed: use default_factory\"; `x` too.",
            expect![[r#"
                identifier default_factory
                quote No closing quotation
                quote mutable default
                quote is not allowed: use default_factory
            "#]],
        );
        assert!(is_test_path("test/test_json/test_fail.py"));
        assert!(is_test_path("pkg/server_test.go"));
        assert!(is_test_path("src/app.spec.ts"));
        assert!(is_test_path("src/test/java/a/BankTest.java"));
        assert!(!is_test_path("json/decoder.py"));
        assert!(!is_test_path("src/contest.rs"));
    }

    #[test]
    fn paths_match_by_trailing_components() {
        assert_eq!(path_match("/usr/lib/python3.11/json/decoder.py", "json/decoder.py"), 2);
        assert_eq!(path_match("./src/stack.rs", "src/stack.rs"), 2);
        assert_eq!(path_match("com/acme/Main.java", "src/main/java/com/acme/Main.java"), 3);
        assert_eq!(path_match("a/b.py", "c/d.py"), 0);
    }
}
