//! Login throttling, shared by both protocols: after a few wrong passwords
//! from one address, that address's next logins wait, longer after each
//! further failure, before their password is checked. Guessing the password
//! from one machine then takes hours instead of seconds, while a user who
//! mistyped it a few times hardly notices.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures from one address that cost nothing.
const FREE_FAILURES: u32 = 3;

/// The wait after [`FREE_FAILURES`]; it doubles with each further failure.
const FIRST_DELAY: Duration = Duration::from_millis(250);

/// The longest wait.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// An address's failures are forgotten this long after its last one.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// At most this many addresses are tracked; the longest quiet go first.
const MAX_PEERS: usize = 10_000;

/// How long a login from an address with `failures` wrong passwords in a
/// row waits: nothing for the first [`FREE_FAILURES`], then 250 ms, 500 ms,
/// 1 s, … up to [`MAX_DELAY`].
pub fn delay_after(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES) {
        None => Duration::ZERO,
        Some(extra) => FIRST_DELAY
            .saturating_mul(1u32 << extra.min(16))
            .min(MAX_DELAY),
    }
}

#[derive(Debug)]
struct Peer {
    /// Wrong passwords in a row.
    failures: u32,
    last_failure: Instant,
    /// No login from this address is checked before this.
    next_check: Instant,
}

/// The failed logins of each client address (both protocols).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    peers: Mutex<HashMap<IpAddr, Peer>>,
}

impl LoginThrottle {
    /// Waits until a login from `ip` may be checked ([`Self::turn`]).
    pub async fn admit(&self, ip: IpAddr) {
        let now = Instant::now();
        let at = self.turn(ip, now);
        if at > now {
            tokio::time::sleep_until(at.into()).await;
        }
    }

    /// When a login from `ip` starting at `now` may be checked. Logins from
    /// an address with failures take turns, so parallel connections are no
    /// faster than one.
    fn turn(&self, ip: IpAddr, now: Instant) -> Instant {
        let mut peers = self.peers.lock().expect("throttle lock");
        let Some(peer) = peers.get_mut(&ip) else {
            return now;
        };
        if now.duration_since(peer.last_failure) >= FORGET_AFTER {
            peers.remove(&ip);
            return now;
        }
        let delay = delay_after(peer.failures);
        if delay.is_zero() {
            return now;
        }
        let at = peer.next_check.max(now + delay);
        peer.next_check = at + delay;
        at
    }

    /// A login from `ip` gave a wrong password. Logs a warning (naming the
    /// address and `protocol`) when the address starts to be slowed down,
    /// once per run of failures.
    pub fn failed(&self, ip: IpAddr, protocol: &str) {
        let mut peers = self.peers.lock().expect("throttle lock");
        let now = Instant::now();
        if !peers.contains_key(&ip) && peers.len() >= MAX_PEERS {
            make_room(&mut peers, now);
        }
        let peer = peers.entry(ip).or_insert(Peer {
            failures: 0,
            last_failure: now,
            next_check: now,
        });
        if now.duration_since(peer.last_failure) >= FORGET_AFTER {
            peer.failures = 0;
        }
        peer.failures = peer.failures.saturating_add(1);
        peer.last_failure = now;
        if peer.failures == FREE_FAILURES {
            tracing::warn!(
                "{} wrong passwords in a row from {ip} ({protocol}): its next logins are \
                 slowed down (up to {}s each) until one succeeds or it stops for {} minutes",
                peer.failures,
                MAX_DELAY.as_secs(),
                FORGET_AFTER.as_secs() / 60,
            );
        }
    }

    /// A login from `ip` gave the right password: its failures are forgotten.
    pub fn succeeded(&self, ip: IpAddr) {
        let mut peers = self.peers.lock().expect("throttle lock");
        if let Some(peer) = peers.remove(&ip)
            && peer.failures >= FREE_FAILURES
        {
            tracing::info!(
                "login from {ip} succeeded after {} wrong passwords",
                peer.failures
            );
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.peers.lock().expect("throttle lock").len()
    }
}

/// Forgets addresses quiet for [`FORGET_AFTER`], or else the longest quiet.
fn make_room(peers: &mut HashMap<IpAddr, Peer>, now: Instant) {
    peers.retain(|_, p| now.duration_since(p.last_failure) < FORGET_AFTER);
    if peers.len() < MAX_PEERS {
        return;
    }
    let oldest = peers
        .iter()
        .min_by_key(|(_, p)| p.last_failure)
        .map(|(ip, _)| *ip);
    if let Some(oldest) = oldest {
        peers.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn delays_grow_after_three_failures_up_to_five_seconds() {
        let ms = |n| delay_after(n).as_millis();
        assert_eq!((ms(0), ms(1), ms(2)), (0, 0, 0));
        assert_eq!(
            (ms(3), ms(4), ms(5), ms(6), ms(7)),
            (250, 500, 1000, 2000, 4000)
        );
        assert_eq!((ms(8), ms(9), ms(u32::MAX)), (5000, 5000, 5000));
    }

    #[test]
    fn failures_slow_down_one_address_until_a_success() {
        let throttle = LoginThrottle::default();
        let (a, b) = (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        let now = Instant::now();
        let wait = |ip| throttle.turn(ip, now) - now;
        for _ in 0..3 {
            assert_eq!(wait(a), Duration::ZERO);
            throttle.failed(a, "test");
        }
        assert_eq!(wait(a), Duration::from_millis(250));
        // Another address is not slowed down.
        assert_eq!(wait(b), Duration::ZERO);
        throttle.failed(a, "test");
        assert_eq!(wait(a), Duration::from_millis(500));
        throttle.succeeded(a);
        assert_eq!(wait(a), Duration::ZERO);
        assert_eq!(throttle.tracked(), 0);
    }

    #[test]
    fn parallel_logins_take_turns() {
        let throttle = LoginThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..4 {
            throttle.failed(ip, "test");
        }
        let now = Instant::now();
        let turns: Vec<u128> = (0..3)
            .map(|_| (throttle.turn(ip, now) - now).as_millis())
            .collect();
        assert_eq!(turns, vec![500, 1000, 1500]);
    }

    #[test]
    fn failures_are_forgotten_after_ten_quiet_minutes() {
        let throttle = LoginThrottle::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for _ in 0..5 {
            throttle.failed(ip, "test");
        }
        let later = Instant::now() + FORGET_AFTER;
        assert_eq!(throttle.turn(ip, later), later);
        assert_eq!(throttle.tracked(), 0);
    }

    #[test]
    fn at_most_max_peers_are_tracked() {
        let throttle = LoginThrottle::default();
        for i in 0..(MAX_PEERS as u32 + 10) {
            throttle.failed(IpAddr::V4(Ipv4Addr::from(i)), "test");
        }
        assert_eq!(throttle.tracked(), MAX_PEERS);
        // The newest is kept.
        let newest = IpAddr::V4(Ipv4Addr::from(MAX_PEERS as u32 + 9));
        assert!(throttle.peers.lock().unwrap().contains_key(&newest));
    }
}
