//! A measured latency (its samples and their median, p90 and maximum) and plain facts.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Runs per latency figure.
pub const RUNS: usize = 20;

/// Samples of one latency.
pub struct Figure {
    /// What was timed, as the table shows it.
    pub name: String,
    /// One duration per run.
    pub samples: Vec<Duration>,
}

impl Figure {
    /// A figure from its samples.
    pub fn new(name: impl Into<String>, samples: Vec<Duration>) -> Figure {
        Figure {
            name: name.into(),
            samples,
        }
    }

    fn at(&self, fraction_of_ten: usize) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        match s.len() {
            0 => Duration::ZERO,
            n => s[(n * fraction_of_ten / 10).min(n - 1)],
        }
    }

    /// The median sample.
    pub fn median(&self) -> Duration {
        self.at(5)
    }

    /// The 90th percentile.
    pub fn p90(&self) -> Duration {
        self.at(9)
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        self.at(10)
    }

    /// The figure as a JSON row.
    pub fn json(&self) -> Value {
        json!({
            "figure": self.name,
            "median_ms": ms(self.median()),
            "p90_ms": ms(self.p90()),
            "max_ms": ms(self.max()),
            "runs": self.samples.len(),
        })
    }
}

/// A single number that is not a latency distribution: a size, a count, a total.
pub struct Fact {
    /// Key in the JSON report.
    pub key: String,
    /// The value.
    pub value: f64,
    /// Unit, for the printed line.
    pub unit: &'static str,
}

/// A fact with its key, value and unit.
pub fn fact(key: impl Into<String>, value: f64, unit: &'static str) -> Fact {
    Fact {
        key: key.into(),
        value,
        unit,
    }
}

/// Milliseconds, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Ratio of two figures' medians.
pub fn ratio(a: &Figure, b: &Figure) -> f64 {
    ms(a.median()) / ms(b.median())
}

/// How long `f` takes.
pub fn timed(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}
