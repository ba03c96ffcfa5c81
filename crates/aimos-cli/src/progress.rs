//! Progress bars for long work (pulls, verification), drawn on stderr only when it is a terminal.

use aimos_local::PullProgress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws each stage of a pull as a bar (bytes known) or a spinner (bytes unknown).
pub struct Bars {
    bar: Option<ProgressBar>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars { bar: None }
    }

    fn close(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Bars {
    /// A spinner with `message` until dropped, for long work without a known length.
    pub fn spinner(message: &str) -> Bars {
        let mut bars = Bars::new();
        bars.stage(message, None);
        bars
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.close();
    }
}

impl PullProgress for Bars {
    fn stage(&mut self, message: &str, total_bytes: Option<u64>) {
        self.close();
        let bar = match total_bytes {
            Some(total) => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg}\n{wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            }
        };
        bar.set_message(message.to_owned());
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn note(&mut self, message: &str) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.println(format!("note: {message}")),
            _ => eprintln!("note: {message}"),
        }
    }
}
