//! Counters and histograms, written in Prometheus's text format at `GET /metrics`.
//!
//! Kept by hand: a few maps behind one mutex each, touched once per request.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];
/// Upper bounds of the gateway-overhead buckets, in seconds.
const OVERHEAD: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, bound) in bounds.iter().enumerate() {
            if value <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in bounds.iter().enumerate() {
            let n = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What one finished request contributes.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub model: String,
    pub status: u16,
    pub latency: Duration,
    /// Time in the gateway minus time waiting on models.
    pub overhead: Duration,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    /// What the smart model alone would have cost (pipeline models only).
    pub counterfactual_usd: f64,
    /// The name of the key that made the request (names are made by `aimos keys`, so their
    /// set is bounded), if any.
    pub key: Option<String>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    in_flight: AtomicI64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    overhead: Histogram,
    tokens: BTreeMap<(String, &'static str), u64>,
    cost: BTreeMap<String, f64>,
    counterfactual: f64,
    savings: f64,
    /// Requests and dollars by key name.
    key_requests: BTreeMap<(String, u16), u64>,
    key_cost: BTreeMap<String, f64>,
}

/// Label values are quoted; quotes, backslashes and newlines in them are escaped.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// A request started.
    pub fn enter(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A request ended (with its observation, or without one when it never reached a model).
    pub fn leave(&self, observation: Option<&Observation>) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(o) = observation {
            self.observe(o);
        }
    }

    fn observe(&self, o: &Observation) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner.requests.entry((o.model.clone(), o.status)).or_default() += 1;
        inner.latency.entry(o.model.clone()).or_default().observe(LATENCY, o.latency.as_secs_f64());
        inner.overhead.observe(OVERHEAD, o.overhead.as_secs_f64());
        *inner.tokens.entry((o.model.clone(), "prompt")).or_default() += o.prompt_tokens;
        *inner.tokens.entry((o.model.clone(), "completion")).or_default() += o.completion_tokens;
        *inner.cost.entry(o.model.clone()).or_default() += o.cost_usd;
        if o.counterfactual_usd > 0.0 {
            inner.counterfactual += o.counterfactual_usd;
            inner.savings += o.counterfactual_usd - o.cost_usd;
        }
        if let Some(key) = &o.key {
            *inner.key_requests.entry((key.clone(), o.status)).or_default() += 1;
            *inner.key_cost.entry(key.clone()).or_default() += o.cost_usd;
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP aimos_requests_total Chat completion requests by model and status.\n# TYPE aimos_requests_total counter\n");
        for ((model, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "aimos_requests_total{{model=\"{}\",status=\"{status}\"}} {n}",
                label(model)
            );
        }
        out.push_str("# HELP aimos_in_flight_requests Requests being answered now.\n# TYPE aimos_in_flight_requests gauge\n");
        let _ =
            writeln!(out, "aimos_in_flight_requests {}", self.in_flight.load(Ordering::Relaxed));
        out.push_str("# HELP aimos_request_duration_seconds Time to answer a request, by model.\n# TYPE aimos_request_duration_seconds histogram\n");
        for (model, histogram) in &inner.latency {
            histogram.write(
                &mut out,
                "aimos_request_duration_seconds",
                &format!("model=\"{}\"", label(model)),
                LATENCY,
            );
        }
        out.push_str("# HELP aimos_gateway_overhead_seconds Time spent in the gateway itself: the request's time minus the time waiting on models.\n# TYPE aimos_gateway_overhead_seconds histogram\n");
        inner.overhead.write(&mut out, "aimos_gateway_overhead_seconds", "", OVERHEAD);
        out.push_str("# HELP aimos_tokens_total Tokens by model and kind.\n# TYPE aimos_tokens_total counter\n");
        for ((model, kind), n) in &inner.tokens {
            let _ = writeln!(
                out,
                "aimos_tokens_total{{model=\"{}\",kind=\"{kind}\"}} {n}",
                label(model)
            );
        }
        out.push_str("# HELP aimos_cost_usd_total Dollars spent, by requested model.\n# TYPE aimos_cost_usd_total counter\n");
        for (model, usd) in &inner.cost {
            let _ = writeln!(out, "aimos_cost_usd_total{{model=\"{}\"}} {usd}", label(model));
        }
        out.push_str("# HELP aimos_counterfactual_usd_total What the smart model alone would have cost the pipeline's requests.\n# TYPE aimos_counterfactual_usd_total counter\n");
        let _ = writeln!(out, "aimos_counterfactual_usd_total {}", inner.counterfactual);
        out.push_str("# HELP aimos_savings_usd_total Counterfactual minus actual cost of the pipeline's requests.\n# TYPE aimos_savings_usd_total counter\n");
        let _ = writeln!(out, "aimos_savings_usd_total {}", inner.savings);
        out.push_str("# HELP aimos_key_requests_total Requests by gateway key and status.\n# TYPE aimos_key_requests_total counter\n");
        for ((key, status), n) in &inner.key_requests {
            let _ = writeln!(
                out,
                "aimos_key_requests_total{{key=\"{}\",status=\"{status}\"}} {n}",
                label(key)
            );
        }
        out.push_str("# HELP aimos_key_cost_usd_total Dollars spent, by gateway key.\n# TYPE aimos_key_cost_usd_total counter\n");
        for (key, usd) in &inner.key_cost {
            let _ = writeln!(out, "aimos_key_cost_usd_total{{key=\"{}\"}} {usd}", label(key));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_show_up_in_the_exposition() {
        let metrics = Metrics::default();
        metrics.enter();
        let observation = Observation {
            model: "aimos/consult".into(),
            status: 200,
            latency: Duration::from_millis(30),
            overhead: Duration::from_micros(200),
            prompt_tokens: 100,
            completion_tokens: 20,
            cost_usd: 0.5,
            counterfactual_usd: 2.0,
            key: Some("team-a".into()),
        };
        metrics.observe(&observation);
        let text = metrics.render();
        assert!(
            text.contains("aimos_requests_total{model=\"aimos/consult\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("aimos_in_flight_requests 1"), "{text}");
        assert!(
            text.contains("aimos_key_requests_total{key=\"team-a\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("aimos_key_cost_usd_total{key=\"team-a\"} 0.5"), "{text}");
        assert!(
            text.contains(
                "aimos_request_duration_seconds_bucket{model=\"aimos/consult\",le=\"0.05\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "aimos_request_duration_seconds_bucket{model=\"aimos/consult\",le=\"0.025\"} 0"
            ),
            "{text}"
        );
        assert!(text.contains("aimos_gateway_overhead_seconds_bucket{le=\"0.00025\"} 1"), "{text}");
        assert!(
            text.contains("aimos_tokens_total{model=\"aimos/consult\",kind=\"prompt\"} 100"),
            "{text}"
        );
        assert!(text.contains("aimos_savings_usd_total 1.5"), "{text}");
        metrics.leave(Some(&observation));
        let text = metrics.render();
        assert!(text.contains("aimos_in_flight_requests 0"), "{text}");
        assert!(text.contains("status=\"200\"} 2"), "{text}");
    }
}
