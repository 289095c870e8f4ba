//! Open-model arrival schedules: constant or Poisson arrivals under a rate profile, seeded so
//! the same schedule can be replayed against another strategy.
use std::fmt;
use std::str::FromStr;

use super::SpecError;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// How arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Arrivals {
    /// Evenly spaced at 1/rate.
    #[default]
    Constant,
    /// Exponential gaps with mean 1/rate (a Poisson process).
    Poisson,
}

/// How the target rate changes over the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    /// `--rate` for the whole run.
    Constant,
    /// Linear from FROM to TO requests/s over the duration.
    Ramp { from: f64, to: f64 },
    /// Equal-length steps at each rate.
    Steps(Vec<f64>),
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Profile::Constant => f.write_str("constant"),
            Profile::Ramp { from, to } => write!(f, "ramp:{from}-{to}"),
            Profile::Steps(steps) => {
                let s: Vec<String> = steps.iter().map(|r| r.to_string()).collect();
                write!(f, "steps:{}", s.join(","))
            }
        }
    }
}

impl FromStr for Profile {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let rate = |t: &str| -> Result<f64, SpecError> {
            let r: f64 = t
                .trim()
                .parse()
                .map_err(|_| format!("{t:?} in profile {s:?} is not a rate (requests/s)"))?;
            if !(r.is_finite() && r > 0.0) {
                return Err(format!("rate {t:?} in profile {s:?} must be above 0").into());
            }
            Ok(r)
        };
        if let Some(spec) = s.strip_prefix("ramp:") {
            let (from, to) = spec
                .split_once('-')
                .ok_or_else(|| format!("profile {s:?}: write ramp:FROM-TO, e.g. ramp:100-1000"))?;
            return Ok(Profile::Ramp {
                from: rate(from)?,
                to: rate(to)?,
            });
        }
        if let Some(spec) = s.strip_prefix("steps:") {
            let steps = spec.split(',').map(rate).collect::<Result<Vec<_>, _>>()?;
            return Ok(Profile::Steps(steps));
        }
        if s == "constant" {
            return Ok(Profile::Constant);
        }
        Err(
            format!("unknown profile {s:?}: use ramp:FROM-TO or steps:R1,R2,R3 (requests/s)")
                .into(),
        )
    }
}

impl Profile {
    /// The target rate at `t` seconds of a `total` seconds run with base `rate`.
    pub fn rate_at(&self, rate: f64, t: f64, total: f64) -> f64 {
        match self {
            Profile::Constant => rate,
            Profile::Ramp { from, to } => from + (to - from) * (t / total).clamp(0.0, 1.0),
            Profile::Steps(steps) => {
                let i = ((t / total) * steps.len() as f64).floor() as usize;
                steps[i.min(steps.len() - 1)]
            }
        }
    }
}

/// Refuse schedules that would not fit in memory (8 bytes per arrival).
pub const MAX_SCHEDULED: u64 = 20_000_000;

/// Intended send times in nanoseconds from the start, at most `limit` of them, all before
/// `duration`. Deterministic for a given seed.
pub fn arrival_times(
    rate: f64,
    profile: &Profile,
    arrivals: Arrivals,
    duration: Duration,
    limit: u64,
    seed: u64,
) -> Vec<u64> {
    let total = duration.as_secs_f64();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut t = 0.0f64;
    while (out.len() as u64) < limit.min(MAX_SCHEDULED) {
        let r = profile.rate_at(rate, t, total).max(1e-9);
        let gap = match arrivals {
            Arrivals::Constant => 1.0 / r,
            Arrivals::Poisson => {
                let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                -u.ln() / r
            }
        };
        if t >= total {
            break;
        }
        out.push((t * 1e9) as u64);
        t += gap;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_schedule_is_evenly_spaced() {
        let s = arrival_times(
            100.0,
            &Profile::Constant,
            Arrivals::Constant,
            Duration::from_secs(2),
            u64::MAX,
            1,
        );
        assert_eq!(s.len(), 200);
        assert_eq!(s[1] - s[0], 10_000_000);
    }

    #[test]
    fn poisson_schedule_has_the_right_mean_and_replays_by_seed() {
        let a = arrival_times(
            1000.0,
            &Profile::Constant,
            Arrivals::Poisson,
            Duration::from_secs(10),
            u64::MAX,
            42,
        );
        assert!((a.len() as f64 - 10_000.0).abs() < 300.0, "{}", a.len());
        let b = arrival_times(
            1000.0,
            &Profile::Constant,
            Arrivals::Poisson,
            Duration::from_secs(10),
            u64::MAX,
            42,
        );
        assert_eq!(a, b);
        let c = arrival_times(
            1000.0,
            &Profile::Constant,
            Arrivals::Poisson,
            Duration::from_secs(10),
            u64::MAX,
            43,
        );
        assert_ne!(a, c);
    }

    #[test]
    fn ramp_and_steps_change_the_rate() {
        let p: Profile = "ramp:100-300".parse().unwrap();
        let s = arrival_times(
            0.0,
            &p,
            Arrivals::Constant,
            Duration::from_secs(2),
            u64::MAX,
            1,
        );
        // Mean rate 200/s over 2 s.
        assert!((s.len() as f64 - 400.0).abs() < 5.0, "{}", s.len());
        let p: Profile = "steps:100,200".parse().unwrap();
        let s = arrival_times(
            0.0,
            &p,
            Arrivals::Constant,
            Duration::from_secs(2),
            u64::MAX,
            1,
        );
        let first = s.iter().filter(|&&t| t < 1_000_000_000).count();
        assert!((first as i64 - 100).abs() <= 1, "{first}");
        assert!((s.len() as i64 - 300).abs() <= 1, "{}", s.len());
    }

    #[test]
    fn bad_profiles_say_how_to_write_them() {
        assert!("ramp:100"
            .parse::<Profile>()
            .unwrap_err()
            .0
            .contains("ramp:FROM-TO"));
        assert!("steps:1,x"
            .parse::<Profile>()
            .unwrap_err()
            .0
            .contains("not a rate"));
        assert!("wave".parse::<Profile>().unwrap_err().0.contains("steps:"));
    }

    #[test]
    fn request_limit_caps_the_schedule() {
        let s = arrival_times(
            1000.0,
            &Profile::Constant,
            Arrivals::Constant,
            Duration::from_secs(10),
            50,
            1,
        );
        assert_eq!(s.len(), 50);
    }
}
