//! Randomness: xoshiro256** streams derived from `(seed, customer, purpose)`,
//! and the few distributions the simulation draws from.

pub(super) const STREAM_PROFILE: u64 = 1;
pub(super) const STREAM_LIFECYCLE: u64 = 2;
pub(super) const STREAM_BILLING: u64 = 3;
pub(super) const STREAM_USAGE: u64 = 4;
pub(super) const STREAM_SUPPORT: u64 = 5;
pub(super) const STREAM_SURVEYS: u64 = 6;
pub(super) const STREAM_ITEMS: u64 = 7;

pub(super) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** seeded through SplitMix64, with the few distributions the
/// simulation needs.
#[derive(Debug, Clone)]
pub(super) struct Rng {
    pub(super) s: [u64; 4],
    pub(super) spare_normal: Option<f64>,
}

impl Rng {
    pub(super) fn from_seed(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self {
            s,
            spare_normal: None,
        }
    }

    /// An independent stream for one purpose of one customer.
    pub(super) fn stream(seed: u64, customer_id: u64, purpose: u64) -> Self {
        let mut sm = seed;
        let a = splitmix64(&mut sm);
        let mut sm = a ^ customer_id.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let b = splitmix64(&mut sm);
        let mut sm = b ^ purpose.wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
        Self::from_seed(splitmix64(&mut sm))
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal (Box-Muller, both values used).
    pub(super) fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        self.spare_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    /// `exp(N(mu, sigma²))`.
    pub(super) fn log_normal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }

    /// Exponential with the given mean.
    pub(super) fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }

    /// Poisson: Knuth's product method for small means, a rounded normal
    /// approximation above 30.
    pub(super) fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = self.uniform();
        while p > limit {
            k += 1;
            p *= self.uniform();
        }
        k
    }

    /// Index drawn with probability proportional to `weights`.
    pub(super) fn pick(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            let w = u64::from(w);
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// Index drawn from cumulative weights (last element is the total).
    pub(super) fn pick_cumulative(&mut self, cumulative: &[u32]) -> usize {
        let x = self.below(u64::from(cumulative[cumulative.len() - 1])) as u32;
        cumulative.iter().position(|&c| x < c).unwrap_or(0)
    }
}
