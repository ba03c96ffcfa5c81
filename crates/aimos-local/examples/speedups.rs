//! Prefix reuse and prompt-lookup decoding, each measured off and on in one run, on the
//! requests aimos makes: the second turn of a long conversation, the second attempt of a fix,
//! edit answers that quote the code they change, and free prose.
//!
//!     cargo run --release -p aimos-local --example speedups -- qwen2.5-coder-0.5b qwen2.5-coder-1.5b
//!
//! Every model runs on 2 threads, loaded three times: with the defaults (prefix reuse on),
//! with both features off, and with prompt-lookup decoding alone (for the generation rows). The code comes from the Python standard library on this machine
//! (`python3` finds it), with one bug put in per fix task. REPS (default 3) sets the runs per
//! figure; each figure is the median, with the lowest and highest run.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::PathBuf;
use std::time::Duration;

use aimos_core::prompts::{EDIT_EXAMPLE, EDITOR_SYSTEM, EXECUTOR_SYSTEM};
use aimos_core::{ChatRequest, ChatResponse, Message, Model};
use aimos_local::{GgufModel, LoadOptions, LocalOptions, NoProgress};

/// (file, the line as shipped, the line with the bug, the report of it)
const BUGS: [(&str, &str, &str, &str); 3] = [
    (
        "colorsys.py",
        "    if minc == maxc:\n        return 0.0, 0.0, v",
        "    if minc != maxc:\n        return 0.0, 0.0, v",
        "colorsys.rgb_to_hsv(0.2, 0.4, 0.4) returns (0.0, 0.0, 0.4); for a grey colour it raises ZeroDivisionError.",
    ),
    (
        "bisect.py",
        "            if x < a[mid]:\n                hi = mid\n            else:\n                lo = mid + 1\n    else:\n        while lo < hi:\n            mid = (lo + hi) // 2\n            if x < key(a[mid]):",
        "            if x < a[mid]:\n                hi = mid\n            else:\n                lo = mid\n    else:\n        while lo < hi:\n            mid = (lo + hi) // 2\n            if x < key(a[mid]):",
        "bisect.bisect_right([1, 2, 3], 5) never returns.",
    ),
    (
        "fnmatch.py",
        "    return match(name) is not None",
        "    return match(name) is None",
        "fnmatch.fnmatchcase('a.txt', '*.txt') returns False, and True for names that do not match.",
    ),
];

const PROSE: [&str; 3] = [
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain to a new programmer why version control matters, in a few paragraphs.",
    "Describe a walk through a city market on a summer morning.",
];

const QUESTIONS: [&str; 3] = [
    "Which function in this module converts from RGB, and what does it return?",
    "What does this module do? Answer in two sentences.",
    "Name two functions of this module and what they take.",
];

fn main() {
    let models: Vec<String> = std::env::args().skip(1).collect();
    if models.is_empty() {
        eprintln!("usage: speedups MODEL... (catalog names or .gguf paths)");
        std::process::exit(2);
    }
    let reps: usize = std::env::var("REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let stdlib = stdlib();
    println!("llama.cpp: {}\n", aimos_local::system_info());
    println!("| model | measure | feature off | feature on | on / off |");
    println!("|---|---|---:|---:|---:|");
    for name in &models {
        let on = load(name, true, false);
        let off = load(name, false, false);
        let lookup = load(name, false, true);
        // (measure, off, on)
        let mut rows: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();

        // The second turn of a conversation of about 4,000 tokens.
        let long: String = ["colorsys.py", "bisect.py", "fnmatch.py", "glob.py", "shlex.py"]
            .iter()
            .map(|f| format!("### {f}\n{}\n", read(&stdlib, f)))
            .collect::<String>();
        let long = cut_to_tokens(&*on, &long, 3_900);
        let system = Message::system(format!("{EXECUTOR_SYSTEM}\n\n{long}"));
        let (mut ttft_on, mut ttft_off, mut same) = (Vec::new(), Vec::new(), 0);
        for rep in 0..reps {
            let first = vec![system.clone(), Message::user(QUESTIONS[rep % QUESTIONS.len()])];
            let answer = ask(&*on, &first, 48);
            let second = next_turn(
                &first,
                answer.content,
                format!("And the other functions? ({})", rep + 1),
            );
            let a = ask(&*on, &second, 16);
            let b = ask(&*off, &second, 16);
            eprintln!(
                "{name} second turn: {} prompt tokens, {} reused; {:.0} ms against {:.0} ms",
                a.usage.prompt_tokens,
                a.usage.cached_prompt_tokens,
                ms(a.timings.prompt),
                ms(b.timings.prompt)
            );
            ttft_on.push(ms(a.timings.prompt));
            ttft_off.push(ms(b.timings.prompt));
            same += usize::from(a.content == b.content);
        }
        rows.push((
            format!("second-turn time to first token, ms ({same}/{reps} answers identical)"),
            ttft_off,
            ttft_on,
        ));

        // A fix's second attempt, and the edit answers of the first.
        let (mut retry_on, mut retry_off, mut edit_on, mut edit_off, mut same) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0);
        let (mut kept, mut same_lookup) = ((0, 0), 0);
        for rep in 0..reps {
            let (file, good, bad, report) = BUGS[rep % BUGS.len()];
            let source = read(&stdlib, file);
            assert!(source.contains(good), "{file} changed: the bench's bug no longer applies");
            let buggy = source.replacen(good, bad, 1);
            let task = format!(
                "Task:\n{report}\n\nContext:\n### {file}\n{buggy}\n\nTask:\n{report}\n\nAnswer now with edit blocks only, each after the path of the file it changes ({file})."
            );
            let first = vec![
                Message::system(EDITOR_SYSTEM),
                Message::user(EDIT_EXAMPLE[0]),
                Message::assistant(EDIT_EXAMPLE[1]),
                Message::user(task),
            ];
            let a1 = ask(&*on, &first, 160);
            let b1 = ask(&*off, &first, 160);
            let c1 = ask(&*lookup, &first, 160);
            kept.0 += c1.timings.draft_tokens_accepted;
            kept.1 += c1.timings.draft_tokens;
            edit_on.push(gen_rate(&c1));
            edit_off.push(gen_rate(&b1));
            same_lookup += usize::from(c1.content == b1.content);
            let second = next_turn(
                &first,
                a1.content.clone(),
                format!(
                    "The check failed after your edits:\n\nFAILED test_{} - AssertionError\n1 failed, 12 passed in 0.31s\n\nAnswer again with edit blocks only.",
                    file.trim_end_matches(".py")
                ),
            );
            let a2 = ask(&*on, &second, 160);
            let b2 = ask(&*off, &second, 160);
            eprintln!(
                "{name} {file}: first edit {} tokens, {} of {} drafted kept with lookup; retry {} prompt tokens, {} reused, {:.0} ms against {:.0} ms",
                b1.usage.completion_tokens,
                c1.timings.draft_tokens_accepted,
                c1.timings.draft_tokens,
                a2.usage.prompt_tokens,
                a2.usage.cached_prompt_tokens,
                ms(a2.timings.total),
                ms(b2.timings.total)
            );
            retry_on.push(ms(a2.timings.total));
            retry_off.push(ms(b2.timings.total));
            same += usize::from(a1.content == b1.content && a2.content == b2.content);
        }
        rows.push((
            format!("fix retry, whole second attempt, ms ({same}/{reps} answers identical)"),
            retry_off,
            retry_on,
        ));
        rows.push((
            format!(
                "edit answers with lookup decoding, generated tokens/s ({} of {} drafted kept; {same_lookup}/{reps} answers identical)",
                kept.0, kept.1
            ),
            edit_off,
            edit_on,
        ));

        // Free prose.
        let (mut prose_on, mut prose_off, mut same) = (Vec::new(), Vec::new(), 0);
        for rep in 0..reps {
            let messages = vec![Message::user(PROSE[rep % PROSE.len()])];
            let a = ask(&*lookup, &messages, 160);
            let b = ask(&*off, &messages, 160);
            prose_on.push(gen_rate(&a));
            prose_off.push(gen_rate(&b));
            same += usize::from(a.content == b.content);
        }
        rows.push((
            format!(
                "prose with lookup decoding, generated tokens/s ({same}/{reps} answers identical)"
            ),
            prose_off,
            prose_on,
        ));

        for (measure, off, on) in rows {
            let (off_m, on_m) = (median(&off), median(&on));
            println!(
                "| {name} | {measure} | {} | {} | {:.2}× |",
                spread(&off),
                spread(&on),
                on_m / off_m
            );
        }
    }
}

fn load(name: &str, prefix_cache: bool, lookup_decoding: bool) -> std::sync::Arc<GgufModel> {
    let options = LoadOptions {
        run: LocalOptions {
            threads: Some(2),
            prefix_cache,
            lookup_decoding,
            ..LocalOptions::default()
        },
        ..LoadOptions::default()
    };
    aimos_local::load(name, &options, &mut NoProgress)
        .unwrap_or_else(|err| panic!("cannot load {name}: {err}"))
}

/// The conversation so far, the model's answer to it, and the user's next message.
fn next_turn(first: &[Message], answer: String, next: String) -> Vec<Message> {
    let mut turn = first.to_vec();
    turn.extend([Message::assistant(answer), Message::user(next)]);
    turn
}

fn ask(model: &dyn Model, messages: &[Message], max_tokens: u32) -> ChatResponse {
    let request = ChatRequest {
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::new(messages.to_vec())
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(model.chat(request))
        .unwrap_or_else(|err| panic!("the model failed: {err}"))
}

fn stdlib() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"])
        .output()
        .expect("python3 runs");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn read(stdlib: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(stdlib.join(file))
        .unwrap_or_else(|err| panic!("{}: {err}", stdlib.join(file).display()))
}

/// `text` cut at a line so that it makes at most `tokens` tokens.
fn cut_to_tokens(model: &dyn Model, text: &str, tokens: usize) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let next = format!("{out}{line}\n");
        if model.count_tokens(&next).unwrap_or(0) > tokens {
            break;
        }
        out = next;
    }
    out
}

fn gen_rate(response: &ChatResponse) -> f64 {
    response.timings.generation_tokens_per_second(&response.usage).unwrap_or(0.0)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 }
}

/// `median (lowest–highest)`.
fn spread(values: &[f64]) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.1} ({lo:.1}–{hi:.1})", median(values))
}
