//! How hard a provider tries: time limits, retries with backoff, and the circuit breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aimos_core::ModelError;

/// Time limits of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// Opening a connection (TCP and TLS).
    pub connect: Duration,
    /// From sending the request to the first piece of a streamed answer. (An answer asked for
    /// in one piece only arrives when generation is done: the total limit applies to it.)
    pub first_token: Duration,
    /// Between two pieces of an answer: a stream that stalls longer is broken.
    pub idle: Duration,
    /// The whole call, retries and their pauses included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(120),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// Bounded retries with exponential backoff and jitter: each pause is drawn between half its
/// ceiling and the ceiling ("equal jitter"), so retries spread out but never come at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first try (0: try once).
    pub max_retries: u32,
    /// The pause before the first retry, before jitter; it doubles with each retry.
    pub initial_backoff: Duration,
    /// The longest pause between two tries, a provider's `retry-after` included.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (1-based): what the provider asked for if it did,
    /// else a random time up to `initial_backoff · 2^(retry-1)`; never above `max_backoff`.
    pub fn pause(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_backoff);
        }
        let exp = self.initial_backoff.saturating_mul(1 << retry.saturating_sub(1).min(20));
        let ceiling = exp.min(self.max_backoff);
        // A pause between half the ceiling and the ceiling keeps retries apart without
        // letting one come back at once.
        ceiling.mul_f64(0.5 + 0.5 * jitter())
    }
}

/// A number in [0, 1) that differs between calls and processes; good enough to spread retries.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// When to stop sending to an upstream that keeps failing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    /// Consecutive upstream failures (server errors, timeouts, unreachable, broken answers)
    /// that open the circuit.
    pub failures: u32,
    /// How long an open circuit refuses requests before one probe may go through.
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> BreakerPolicy {
        BreakerPolicy { failures: 5, cool_down: Duration::from_secs(30) }
    }
}

/// A circuit breaker for one upstream, shared by every model on it.
///
/// Closed: requests pass and consecutive upstream failures are counted. Open: requests fail at
/// once with [`ModelError::CircuitOpen`] until the cool-down ends. Half-open: one request
/// probes; its success closes the circuit, its failure opens it again.
#[derive(Debug)]
pub struct Breaker {
    upstream: String,
    policy: BreakerPolicy,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    Probing,
}

/// Leave to send one request; report how it ended with [`Permit::finish`].
/// A permit dropped unreported (the caller gave up) counts as neither success nor failure.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    done: bool,
}

impl Breaker {
    pub fn new(upstream: impl Into<String>, policy: BreakerPolicy) -> Breaker {
        Breaker {
            upstream: upstream.into(),
            policy,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Asks to send a request now.
    pub fn admit(&self) -> Result<Permit<'_>, ModelError> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Result<Permit<'_>, ModelError> {
        let mut state = self.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if now >= until => {
                *state = State::Probing;
                tracing::info!(upstream = %self.upstream, "circuit half-open: probing");
                true
            }
            State::Open { until } => {
                return Err(ModelError::CircuitOpen {
                    upstream: self.upstream.clone(),
                    retry_in: until - now,
                });
            }
            State::Probing => {
                return Err(ModelError::CircuitOpen {
                    upstream: self.upstream.clone(),
                    retry_in: Duration::ZERO,
                });
            }
        };
        Ok(Permit { breaker: self, probe, done: false })
    }

    /// Whether requests are refused at this moment.
    pub fn is_open(&self) -> bool {
        matches!(*self.lock(), State::Open { until } if Instant::now() < until)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record(&self, probe: bool, failed: bool, now: Instant) {
        let mut state = self.lock();
        *state = match (*state, failed) {
            (_, false) => State::Closed { failures: 0 },
            (State::Probing, true) if probe => {
                tracing::warn!(upstream = %self.upstream, "probe failed: circuit open again");
                State::Open { until: now + self.policy.cool_down }
            }
            (State::Closed { failures }, true) if failures + 1 >= self.policy.failures => {
                tracing::warn!(
                    upstream = %self.upstream,
                    failures = failures + 1,
                    "circuit open for {:?}",
                    self.policy.cool_down
                );
                State::Open { until: now + self.policy.cool_down }
            }
            (State::Closed { failures }, true) => State::Closed { failures: failures + 1 },
            (other, true) => other,
        };
    }
}

impl Permit<'_> {
    /// Reports how the request ended; only upstream failures count against the upstream.
    pub fn finish(self, outcome: Result<(), &ModelError>) {
        self.finish_at(outcome, Instant::now());
    }

    fn finish_at(mut self, outcome: Result<(), &ModelError>, now: Instant) {
        self.done = true;
        // A refused key or a bad request says nothing about the upstream's health,
        // but it does end a probe: the upstream answered.
        let failed = outcome.is_err_and(ModelError::is_upstream_failure);
        self.breaker.record(self.probe, failed, now);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done && self.probe {
            let mut state = self.breaker.lock();
            if *state == State::Probing {
                *state = State::Open { until: Instant::now() };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error() -> ModelError {
        ModelError::Server { status: 500, message: "boom".into() }
    }

    #[test]
    fn backoff_grows_stays_jittered_and_bounded_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for retry in 1..=6 {
            let ceiling = (Duration::from_millis(100) * (1 << (retry - 1))).min(policy.max_backoff);
            for _ in 0..50 {
                let pause = policy.pause(retry, None);
                assert!(pause >= ceiling / 2 && pause <= ceiling, "retry {retry}: {pause:?}");
            }
        }
        assert_eq!(policy.pause(1, Some(Duration::from_millis(700))), Duration::from_millis(700));
        assert_eq!(policy.pause(1, Some(Duration::from_secs(90))), Duration::from_secs(1));
    }

    #[test]
    fn the_circuit_opens_after_consecutive_failures_and_a_probe_closes_it() {
        let breaker = Breaker::new(
            "test upstream",
            BreakerPolicy { failures: 3, cool_down: Duration::from_secs(10) },
        );
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for _ in 0..2 {
            breaker.admit_at(t0).expect("closed").finish_at(Err(&server_error()), t0);
        }
        // A success in between resets the count.
        breaker.admit_at(t0).expect("closed").finish_at(Ok(()), t0);
        for _ in 0..3 {
            breaker.admit_at(t0).expect("closed").finish_at(Err(&server_error()), t0);
        }
        let err = breaker.admit_at(at(4)).expect_err("open");
        assert!(
            matches!(err, ModelError::CircuitOpen { retry_in, .. } if retry_in == Duration::from_secs(6)),
            "{err:?}"
        );
        // After the cool-down one probe goes through, others wait for it.
        let probe = breaker.admit_at(at(11)).expect("probe");
        assert!(breaker.admit_at(at(11)).is_err(), "one probe at a time");
        probe.finish_at(Err(&server_error()), at(11));
        assert!(breaker.admit_at(at(12)).is_err(), "a failed probe opens the circuit again");
        let probe = breaker.admit_at(at(22)).expect("probe after the second cool-down");
        probe.finish_at(Ok(()), at(22));
        assert!(breaker.admit_at(at(22)).is_ok(), "closed again");
    }

    #[test]
    fn client_errors_do_not_count_and_an_abandoned_probe_frees_the_slot() {
        let breaker =
            Breaker::new("u", BreakerPolicy { failures: 1, cool_down: Duration::from_millis(1) });
        let auth = ModelError::Auth { message: "bad key".into() };
        for _ in 0..5 {
            breaker.admit().expect("closed").finish(Err(&auth));
        }
        breaker.admit().expect("closed").finish(Err(&server_error()));
        std::thread::sleep(Duration::from_millis(5));
        drop(breaker.admit().expect("probe"));
        assert!(breaker.admit().is_ok(), "an abandoned probe lets the next one through");
    }
}
