//! One plan split into shards: the closed model's connections (and `--requests`) divided, the
//! open model's arrivals interleaved (each shard sends every N-th arrival of the one schedule,
//! [`crate::load::Shard`]), so the shards together send what one `hale load` would.
use super::ClusterError;
use crate::load::{LoadOptions, Model, Shard};

/// `total` divided into `count` parts that differ by at most one, the larger ones first.
pub fn part(total: u64, index: u32, count: u32) -> u64 {
    let (count, index) = (u64::from(count.max(1)), u64::from(index));
    total / count + u64::from(index < total % count)
}

/// Whether the plan can be split in `count` shards that each have something to do.
pub fn check(options: &LoadOptions, count: u32) -> Result<(), ClusterError> {
    if count == 0 {
        return Err(ClusterError::BadInput("--shards must be at least 1".into()));
    }
    let concurrency = match &options.model {
        Model::Closed { concurrency } | Model::Open { concurrency, .. } => *concurrency,
    };
    if (concurrency as u64) < u64::from(count) {
        return Err(ClusterError::BadInput(format!(
            "--concurrency {concurrency} cannot be split over --shards {count}: give at least one connection per shard"
        )));
    }
    if let (Model::Closed { .. }, Some(n)) = (&options.model, options.requests) {
        if n < u64::from(count) {
            return Err(ClusterError::BadInput(format!(
                "--requests {n} cannot be split over --shards {count}"
            )));
        }
    }
    Ok(())
}

/// The options of shard `index` of `count`.
pub fn shard(mut options: LoadOptions, index: u32, count: u32) -> LoadOptions {
    let split = |c: usize| (part(c as u64, index, count) as usize).max(1);
    match &mut options.model {
        Model::Closed { concurrency } => {
            *concurrency = split(*concurrency);
            // The open model's limit cuts the whole schedule before it is interleaved.
            options.requests = options.requests.map(|n| part(n, index, count));
        }
        Model::Open { concurrency, .. } => *concurrency = split(*concurrency),
    }
    options.shard = Some(Shard { index, count });
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{schedule, Arrivals, Profile};
    use std::time::Duration;

    #[test]
    fn parts_add_up_and_differ_by_at_most_one() {
        for total in [1u64, 2, 7, 50, 101] {
            for count in 1..=5u32 {
                let parts: Vec<u64> = (0..count).map(|i| part(total, i, count)).collect();
                assert_eq!(parts.iter().sum::<u64>(), total, "{total}/{count}");
                let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
                assert!(hi - lo <= 1, "{parts:?}");
            }
        }
    }

    #[test]
    fn closed_model_connections_and_requests_are_divided() {
        let options = LoadOptions {
            model: Model::Closed { concurrency: 5 },
            requests: Some(11),
            ..LoadOptions::default()
        };
        let shards: Vec<LoadOptions> = (0..2).map(|i| shard(options.clone(), i, 2)).collect();
        assert_eq!(shards[0].model, Model::Closed { concurrency: 3 });
        assert_eq!(shards[1].model, Model::Closed { concurrency: 2 });
        assert_eq!(shards[0].requests, Some(6));
        assert_eq!(shards[1].requests, Some(5));
        assert_eq!(shards[1].shard, Some(Shard { index: 1, count: 2 }));
    }

    #[test]
    fn fewer_connections_than_shards_is_refused() {
        let options = LoadOptions {
            model: Model::Closed { concurrency: 1 },
            ..LoadOptions::default()
        };
        assert!(check(&options, 2).is_err());
        assert!(check(&options, 1).is_ok());
    }

    /// The interleaved parts of the schedule (as run.rs takes them) are the whole schedule:
    /// every arrival once, and no two shards send at the start.
    #[test]
    fn interleaved_open_schedules_union_to_the_requested_one() {
        let whole = schedule::arrival_times(
            200.0,
            &Profile::Constant,
            Arrivals::Poisson,
            Duration::from_secs(2),
            u64::MAX,
            7,
        );
        let parts: Vec<Vec<u64>> = (0..3)
            .map(|i| whole.iter().copied().skip(i).step_by(3).collect())
            .collect();
        let mut union: Vec<u64> = parts.concat();
        union.sort_unstable();
        assert_eq!(union, whole);
        let firsts: Vec<u64> = parts.iter().map(|p| p[0]).collect();
        assert_eq!(
            firsts,
            whole[..3].to_vec(),
            "each shard starts at its own arrival"
        );
    }
}
