//! A circuit breaker: after `threshold` consecutive failures the provider is
//! skipped for `cooldown`, so a dead upstream does not add its timeout to every
//! request. After the cool-down one trial call is let through (half-open); its
//! success closes the breaker, its failure opens it again.
//!
//! The state is per process on purpose: every replica learns about the
//! upstream's health on its own, and losing it on restart costs one timeout.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct State {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    /// When the half-open trial call started (a trial that never reports back,
    /// e.g. cancelled, is given up after another cool-down).
    trial_started: Option<Instant>,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State {
                consecutive_failures: 0,
                open_until: None,
                trial_started: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a call may go to the provider now.
    pub fn allow(&self) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        match state.open_until {
            None => true,
            Some(until) if now < until => false,
            Some(_) if state.trial_started.is_some_and(|t| now < t + self.cooldown) => false,
            Some(_) => {
                state.trial_started = Some(now);
                true
            }
        }
    }

    /// Whether the breaker is closed (the provider is considered healthy).
    pub fn is_closed(&self) -> bool {
        self.lock().open_until.is_none()
    }

    pub fn record_success(&self) {
        let mut state = self.lock();
        state.consecutive_failures = 0;
        state.open_until = None;
        state.trial_started = None;
    }

    pub fn record_failure(&self) {
        let mut state = self.lock();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        state.trial_started = None;
        if state.open_until.is_some() || state.consecutive_failures >= self.threshold {
            state.open_until = Some(Instant::now() + self.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers_after_cooldown() {
        let breaker = CircuitBreaker::new(2, Duration::from_millis(30));
        assert!(breaker.allow());
        breaker.record_failure();
        assert!(breaker.allow(), "one failure is below the threshold");
        breaker.record_failure();
        assert!(!breaker.allow(), "open after two failures");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "half-open: one trial call");
        assert!(!breaker.allow(), "only one trial at a time");
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            breaker.allow(),
            "a trial that never reported back is given up"
        );
        breaker.record_success();
        assert!(breaker.allow() && breaker.is_closed());
    }

    #[test]
    fn a_failed_trial_reopens() {
        let breaker = CircuitBreaker::new(1, Duration::from_millis(20));
        breaker.record_failure();
        std::thread::sleep(Duration::from_millis(30));
        assert!(breaker.allow());
        breaker.record_failure();
        assert!(!breaker.allow());
    }
}
