//! Client-side load balancing strategies (round robin, smooth weighted, least connections, P2C + peak EWMA, random, consistent hash).
//!
//! A [`Balancer`] is built for one set of endpoints (a discovery generation) and shared by every
//! worker: its state is atomics, except smooth weighted round robin whose `current` weights need
//! one short lock. `pick` takes an eligibility predicate so the breakers can veto endpoints
//! without the caller building a filtered list per request.
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;

/// How requests are spread over the endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// Each instance in turn.
    RoundRobin,
    /// nginx's smooth weighted round robin over the registry's `weight` meta.
    WeightedRoundRobin,
    /// The endpoint with the fewest requests in flight (ties rotate).
    LeastConnections,
    /// Power of two choices over peak-EWMA cost: rtt × (pending + 1).
    P2cEwma,
    /// A uniformly random instance.
    Random,
    /// Consistent hashing on a request header (ring or jump hash).
    ConsistentHash,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Strategy::RoundRobin,
        Strategy::WeightedRoundRobin,
        Strategy::LeastConnections,
        Strategy::P2cEwma,
        Strategy::Random,
        Strategy::ConsistentHash,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round-robin",
            Strategy::WeightedRoundRobin => "weighted-round-robin",
            Strategy::LeastConnections => "least-connections",
            Strategy::P2cEwma => "p2c-ewma",
            Strategy::Random => "random",
            Strategy::ConsistentHash => "consistent-hash",
        }
    }

    /// The share each endpoint should get under this strategy: weights for weighted round
    /// robin, equal shares otherwise (consistent hashing is only equal in expectation).
    pub fn expected_shares(self, weights: &[u32]) -> Vec<f64> {
        if weights.is_empty() {
            return Vec::new();
        }
        match self {
            Strategy::WeightedRoundRobin => {
                let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
                weights.iter().map(|&w| f64::from(w) / total).collect()
            }
            _ => vec![1.0 / weights.len() as f64; weights.len()],
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which consistent-hash algorithm maps a key to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HashKind {
    /// Ketama-style ring with virtual nodes: adding or removing one endpoint moves ~1/n keys.
    #[default]
    Ring,
    /// Lamping & Veach jump hash: no memory, perfectly even, but only stable for appends.
    Jump,
}

/// Tuning of the strategies; the defaults are documented in docs/commands/load.md.
#[derive(Debug, Clone)]
pub struct BalanceOptions {
    pub strategy: Strategy,
    pub hash: HashKind,
    /// Peak-EWMA decay time constant τ.
    pub ewma_decay: Duration,
    /// Cost assumed for an endpoint never measured (tower's `default_rtt`).
    pub ewma_default_rtt: Duration,
    /// Virtual nodes per endpoint on the hash ring.
    pub ring_replicas: u32,
}

impl Default for BalanceOptions {
    fn default() -> Self {
        BalanceOptions {
            strategy: Strategy::RoundRobin,
            hash: HashKind::Ring,
            ewma_decay: Duration::from_secs(1),
            ewma_default_rtt: Duration::from_millis(1),
            ring_replicas: 160,
        }
    }
}

/// What a balancer needs to know about one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    /// Stable identity, hashed onto the ring.
    pub id: String,
    pub weight: u32,
}

/// Live load of one endpoint: requests in flight and the peak-EWMA round-trip estimate.
#[derive(Debug)]
struct EndpointLoad {
    in_flight: AtomicU32,
    /// f64 bits of the RTT estimate in nanoseconds. Races between workers may drop an update;
    /// the estimate is a heuristic and a lock here would cost more than it protects.
    rtt_ns: AtomicU64,
    /// Nanoseconds (balancer clock) of the last estimate update.
    stamp_ns: AtomicU64,
    /// Nanoseconds of the last pick, for go-zero's "force a pick after 1 s" rule.
    picked_ns: AtomicU64,
}

/// One generation's balancer, shared by all workers.
#[derive(Debug)]
pub struct Balancer {
    strategy: Strategy,
    hash: HashKind,
    weights: Vec<u32>,
    loads: Vec<EndpointLoad>,
    next: AtomicUsize,
    smooth_current: Mutex<Vec<i64>>,
    ring: Vec<(u64, u32)>,
    decay_ns: f64,
}

/// go-zero forces a pick of an endpoint not chosen for this long, so a penalised endpoint gets
/// a fresh measurement.
const FORCE_PICK_NS: u64 = 1_000_000_000;

impl Balancer {
    pub fn new(options: &BalanceOptions, endpoints: &[EndpointSpec]) -> Balancer {
        let default_rtt = options.ewma_default_rtt.as_nanos() as f64;
        let loads = endpoints
            .iter()
            .map(|_| EndpointLoad {
                in_flight: AtomicU32::new(0),
                rtt_ns: AtomicU64::new(default_rtt.to_bits()),
                stamp_ns: AtomicU64::new(0),
                picked_ns: AtomicU64::new(0),
            })
            .collect();
        let ring = if options.strategy == Strategy::ConsistentHash && options.hash == HashKind::Ring
        {
            build_ring(endpoints, options.ring_replicas.max(1))
        } else {
            Vec::new()
        };
        Balancer {
            strategy: options.strategy,
            hash: options.hash,
            weights: endpoints.iter().map(|e| e.weight.max(1)).collect(),
            loads,
            next: AtomicUsize::new(0),
            smooth_current: Mutex::new(vec![0; endpoints.len()]),
            ring,
            decay_ns: options.ewma_decay.as_nanos().max(1) as f64,
        }
    }

    pub fn len(&self) -> usize {
        self.loads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.loads.is_empty()
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Choose an endpoint among those `eligible` accepts. `key` is the request's hash key
    /// (consistent hashing only); `now_ns` is the caller's clock.
    pub fn pick(
        &self,
        rng: &mut SmallRng,
        key: u64,
        now_ns: u64,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.loads.len();
        if n == 0 {
            return None;
        }
        let chosen = match self.strategy {
            Strategy::RoundRobin => {
                // Draw from the shared counter again on an ineligible endpoint (rather than
                // taking its successor) so the survivors keep equal shares.
                (0..n)
                    .map(|_| self.next.fetch_add(1, Ordering::Relaxed) % n)
                    .find(|&i| eligible(i))
            }
            Strategy::WeightedRoundRobin => self.pick_smooth_weighted(eligible),
            Strategy::LeastConnections => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                let mut best: Option<(usize, u32)> = None;
                for k in 0..n {
                    let i = (start + k) % n;
                    if !eligible(i) {
                        continue;
                    }
                    let load = self.loads[i].in_flight.load(Ordering::Relaxed);
                    if best.is_none_or(|(_, b)| load < b) {
                        best = Some((i, load));
                    }
                }
                best.map(|(i, _)| i)
            }
            Strategy::P2cEwma => self.pick_p2c(rng, now_ns, eligible),
            Strategy::Random => random_eligible(rng, n, eligible),
            Strategy::ConsistentHash => self.pick_hash(key, eligible),
        };
        if let Some(i) = chosen {
            self.loads[i].picked_ns.store(now_ns, Ordering::Relaxed);
        }
        chosen
    }

    fn pick_smooth_weighted(&self, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        // nginx ngx_http_upstream_get_peer: current += weight; pick max; winner -= total.
        let mut current = self
            .smooth_current
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for (i, cur) in current.iter_mut().enumerate() {
            if !eligible(i) {
                continue;
            }
            let w = i64::from(self.weights[i]);
            *cur += w;
            total += w;
            if best.is_none_or(|(_, b)| *cur > b) {
                best = Some((i, *cur));
            }
        }
        let (winner, _) = best?;
        current[winner] -= total;
        Some(winner)
    }

    fn pick_p2c(
        &self,
        rng: &mut SmallRng,
        now_ns: u64,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.loads.len();
        let a = random_eligible(rng, n, eligible)?;
        if n == 1 {
            return Some(a);
        }
        let mut b = None;
        for _ in 0..4 {
            let j = rng.gen_range(0..n - 1);
            let j = if j >= a { j + 1 } else { j };
            if eligible(j) {
                b = Some(j);
                break;
            }
        }
        let Some(b) = b else { return Some(a) };
        for i in [a, b] {
            let picked = self.loads[i].picked_ns.load(Ordering::Relaxed);
            if now_ns.saturating_sub(picked) > FORCE_PICK_NS {
                return Some(i);
            }
        }
        if self.cost(a, now_ns) <= self.cost(b, now_ns) {
            Some(a)
        } else {
            Some(b)
        }
    }

    fn pick_hash(&self, key: u64, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        let n = self.loads.len();
        match self.hash {
            HashKind::Ring => {
                let start = self.ring.partition_point(|&(point, _)| point < key);
                let len = self.ring.len();
                (0..len)
                    .map(|k| self.ring[(start + k) % len].1 as usize)
                    .find(|&i| eligible(i))
            }
            HashKind::Jump => {
                // Rehash on an ineligible bucket so its keys spread over the others.
                let mut k = key;
                for _ in 0..n * 4 {
                    let i = jump_hash(k, n);
                    if eligible(i) {
                        return Some(i);
                    }
                    k = mix64(k.wrapping_add(0x9e37_79b9_7f4a_7c15));
                }
                (0..n).find(|&i| eligible(i))
            }
        }
    }

    /// Peak-EWMA cost: the estimate decayed toward zero since its last update, times
    /// (pending + 1). An idle endpoint becomes cheaper with time, so it gets probed again.
    pub fn cost(&self, i: usize, now_ns: u64) -> f64 {
        let load = &self.loads[i];
        let rtt = f64::from_bits(load.rtt_ns.load(Ordering::Relaxed));
        let stamp = load.stamp_ns.load(Ordering::Relaxed);
        let elapsed = now_ns.saturating_sub(stamp) as f64;
        let decayed = rtt * (-elapsed / self.decay_ns).exp();
        let pending = load.in_flight.load(Ordering::Relaxed);
        decayed * f64::from(pending + 1)
    }

    /// A request to endpoint `i` is about to be sent.
    pub fn start(&self, i: usize) {
        self.loads[i].in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// The request to endpoint `i` finished after `rtt_ns` (failures count too: a slow
    /// failure must raise the cost just as a slow success does).
    pub fn finish(&self, i: usize, rtt_ns: u64, now_ns: u64) {
        let load = &self.loads[i];
        load.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.strategy != Strategy::P2cEwma {
            return;
        }
        let sample = rtt_ns as f64;
        let old = f64::from_bits(load.rtt_ns.load(Ordering::Relaxed));
        let stamp = load.stamp_ns.load(Ordering::Relaxed);
        let next = if sample > old {
            // The peak: a slower sample replaces the estimate at once.
            sample
        } else {
            let elapsed = now_ns.saturating_sub(stamp) as f64;
            let decay = (-elapsed / self.decay_ns).exp();
            old * decay + sample * (1.0 - decay)
        };
        load.rtt_ns.store(next.to_bits(), Ordering::Relaxed);
        load.stamp_ns.store(now_ns, Ordering::Relaxed);
    }

    pub fn in_flight(&self, i: usize) -> u32 {
        self.loads[i].in_flight.load(Ordering::Relaxed)
    }
}

fn random_eligible(
    rng: &mut SmallRng,
    n: usize,
    eligible: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    // A few random draws first (the common case: everything eligible), then a scan from a
    // random start so an almost-all-ejected set still finds its survivor.
    for _ in 0..4 {
        let i = rng.gen_range(0..n);
        if eligible(i) {
            return Some(i);
        }
    }
    let start = rng.gen_range(0..n);
    (0..n).map(|k| (start + k) % n).find(|&i| eligible(i))
}

fn build_ring(endpoints: &[EndpointSpec], replicas: u32) -> Vec<(u64, u32)> {
    let mut ring = Vec::with_capacity(endpoints.len() * replicas as usize);
    for (i, e) in endpoints.iter().enumerate() {
        let base = hash_bytes(e.id.as_bytes());
        for r in 0..replicas {
            ring.push((
                mix64(base ^ u64::from(r).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                i as u32,
            ));
        }
    }
    ring.sort_unstable();
    ring
}

/// FNV-1a followed by a 64-bit finaliser: stable across runs and platforms (the std hasher
/// is randomly keyed, which would break replaying a run).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// splitmix64's finaliser.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Jump consistent hash (Lamping & Veach 2014).
pub fn jump_hash(mut key: u64, buckets: usize) -> usize {
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < buckets as i64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn specs(weights: &[u32]) -> Vec<EndpointSpec> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| EndpointSpec {
                id: format!("svc-{}", i + 1),
                weight: w,
            })
            .collect()
    }

    fn balancer(strategy: Strategy, weights: &[u32]) -> Balancer {
        let options = BalanceOptions {
            strategy,
            ..Default::default()
        };
        Balancer::new(&options, &specs(weights))
    }

    fn counts(b: &Balancer, picks: usize, eligible: &dyn Fn(usize) -> bool) -> Vec<usize> {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut out = vec![0; b.len()];
        for k in 0..picks {
            let key = mix64(k as u64);
            let i = b.pick(&mut rng, key, k as u64 * 1000, eligible).unwrap();
            out[i] += 1;
        }
        out
    }

    #[test]
    fn round_robin_gives_exactly_equal_shares() {
        let b = balancer(Strategy::RoundRobin, &[1, 1, 1]);
        assert_eq!(counts(&b, 300, &|_| true), vec![100, 100, 100]);
    }

    #[test]
    fn round_robin_skips_ineligible_endpoints() {
        let b = balancer(Strategy::RoundRobin, &[1, 1, 1]);
        assert_eq!(counts(&b, 300, &|i| i != 1), vec![150, 0, 150]);
    }

    #[test]
    fn smooth_weighted_round_robin_matches_nginx_sequence() {
        // nginx's documented example: weights a=5, b=1, c=1 give a a b a c a a.
        let b = balancer(Strategy::WeightedRoundRobin, &[5, 1, 1]);
        let mut rng = SmallRng::seed_from_u64(1);
        let seq: Vec<usize> = (0..7)
            .map(|_| b.pick(&mut rng, 0, 0, &|_| true).unwrap())
            .collect();
        assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn smooth_weighted_round_robin_shares_follow_weights() {
        let b = balancer(Strategy::WeightedRoundRobin, &[3, 2, 1]);
        assert_eq!(counts(&b, 600, &|_| true), vec![300, 200, 100]);
        let expected = Strategy::WeightedRoundRobin.expected_shares(&[3, 2, 1]);
        assert!((expected[0] - 0.5).abs() < 1e-9);
    }

    #[test]
    fn smooth_weighted_round_robin_redistributes_an_ineligible_weight() {
        let b = balancer(Strategy::WeightedRoundRobin, &[3, 2, 1]);
        assert_eq!(counts(&b, 500, &|i| i != 0), vec![0, 333, 167]);
    }

    #[test]
    fn least_connections_prefers_the_idle_endpoint() {
        let b = balancer(Strategy::LeastConnections, &[1, 1, 1]);
        b.start(0);
        b.start(0);
        b.start(2);
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(b.pick(&mut rng, 0, 0, &|_| true), Some(1));
        b.start(1);
        b.start(1);
        assert_eq!(b.pick(&mut rng, 0, 0, &|_| true), Some(2));
    }

    #[test]
    fn least_connections_rotates_ties_evenly() {
        let b = balancer(Strategy::LeastConnections, &[1, 1, 1]);
        assert_eq!(counts(&b, 300, &|_| true), vec![100, 100, 100]);
    }

    #[test]
    fn p2c_ewma_sends_most_traffic_away_from_a_slow_endpoint() {
        let b = balancer(Strategy::P2cEwma, &[1, 1, 1]);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut out = [0usize; 3];
        let mut now = 0u64;
        for _ in 0..3000 {
            now += 100_000; // 0.1 ms between requests
            let i = b.pick(&mut rng, 0, now, &|_| true).unwrap();
            out[i] += 1;
            b.start(i);
            let rtt = if i == 2 { 20_000_000 } else { 200_000 };
            b.finish(i, rtt, now);
        }
        // The slow one is only picked when it is paired with itself never happens (P2C draws
        // two distinct endpoints), or by the forced 1 s re-probe: a small share.
        assert!(out[2] < 300, "slow endpoint got {out:?}");
        assert!(out[0] > 1000 && out[1] > 1000, "{out:?}");
    }

    #[test]
    fn peak_ewma_takes_peaks_at_once_and_decays_lower_samples() {
        let b = balancer(Strategy::P2cEwma, &[1]);
        b.start(0);
        b.finish(0, 50_000_000, 1_000);
        assert!((b.cost(0, 1_000) - 50_000_000.0).abs() < 1.0);
        // A lower sample one τ later moves the estimate (1 - 1/e) of the way toward it.
        b.start(0);
        b.finish(0, 0, 1_000 + 1_000_000_000);
        let c = b.cost(0, 1_000 + 1_000_000_000);
        let expected = 50_000_000.0 * (-1.0f64).exp();
        assert!((c - expected).abs() / expected < 1e-6, "{c} vs {expected}");
        // Pending requests multiply the cost.
        b.start(0);
        let c2 = b.cost(0, 1_000 + 1_000_000_000);
        assert!((c2 - 2.0 * expected).abs() / expected < 1e-6);
    }

    #[test]
    fn random_is_uniform_within_tolerance() {
        let b = balancer(Strategy::Random, &[1, 1, 1, 1]);
        let c = counts(&b, 40_000, &|_| true);
        for n in c {
            assert!((n as f64 - 10_000.0).abs() < 500.0, "{n}");
        }
    }

    #[test]
    fn ring_hash_is_sticky_and_roughly_even() {
        let b = balancer(Strategy::ConsistentHash, &[1, 1, 1]);
        let mut rng = SmallRng::seed_from_u64(1);
        let key = hash_bytes(b"user-42");
        let first = b.pick(&mut rng, key, 0, &|_| true);
        for _ in 0..10 {
            assert_eq!(b.pick(&mut rng, key, 0, &|_| true), first);
        }
        let c = counts(&b, 30_000, &|_| true);
        for n in c {
            assert!((n as f64 - 10_000.0).abs() < 1_500.0, "{n}");
        }
    }

    #[test]
    fn ring_hash_moves_only_the_removed_endpoints_keys() {
        let b = balancer(Strategy::ConsistentHash, &[1, 1, 1]);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut moved = 0;
        for k in 0..3000u64 {
            let key = mix64(k);
            let before = b.pick(&mut rng, key, 0, &|_| true).unwrap();
            let after = b.pick(&mut rng, key, 0, &|i| i != 2).unwrap();
            if before != 2 {
                assert_eq!(before, after, "a key not on the removed endpoint moved");
            } else {
                moved += 1;
            }
        }
        assert!(moved > 500 && moved < 1500, "{moved}");
    }

    #[test]
    fn jump_hash_is_even_and_stable_under_growth() {
        let mut c = [0usize; 5];
        let mut stayed = 0;
        for k in 0..50_000u64 {
            let key = mix64(k);
            let a = jump_hash(key, 5);
            c[a] += 1;
            if jump_hash(key, 6) == a {
                stayed += 1;
            }
        }
        for n in c {
            assert!((n as f64 - 10_000.0).abs() < 600.0, "{n}");
        }
        // Growing 5 → 6 buckets moves about 1/6 of the keys.
        let moved = 50_000 - stayed;
        assert!((moved as f64 - 50_000.0 / 6.0).abs() < 800.0, "{moved}");
    }

    #[test]
    fn no_eligible_endpoint_picks_none() {
        for s in Strategy::ALL {
            let b = balancer(s, &[1, 2]);
            let mut rng = SmallRng::seed_from_u64(1);
            assert_eq!(b.pick(&mut rng, 5, 0, &|_| false), None, "{s}");
        }
    }

    #[test]
    fn the_report_uses_the_flag_s_own_words_for_strategies() {
        use clap::ValueEnum as _;
        for s in Strategy::ALL {
            let flag = s.to_possible_value().unwrap();
            assert_eq!(flag.get_name(), s.name());
        }
        assert_eq!(Strategy::value_variants().len(), Strategy::ALL.len());
    }
}
