//! Rate limits of the public campaign endpoints: each client address (an IPv4 address or an IPv6
//! /64, which one host controls) and each customer may act at a sustained rate with a burst on
//! top (GCRA, as `governor` keeps it). The address is checked before the token, so forged tokens
//! cost an attacker their address's allowance; the customer after it, so one customer cannot
//! crowd out the others sharing a carrier's address. Kept in memory per process; keys whose
//! allowance is whole again are dropped as the maps grow.

use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// A sustained rate per second and the burst allowed on top of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests allowed at once.
    pub burst: u32,
}

/// The limits of the public campaign endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Per client address.
    pub per_address: Rate,
    /// Per customer.
    pub per_customer: Rate,
}

impl Default for Limits {
    /// 200 per second (burst 400) per address — a carrier's NAT puts many customers behind one —,
    /// 10 per second (burst 20) per customer.
    fn default() -> Self {
        Self { per_address: Rate { per_second: 200, burst: 400 }, per_customer: Rate { per_second: 10, burst: 20 } }
    }
}

/// Keys kept before stale ones are dropped.
const PRUNE_AT: usize = 100_000;

type Keyed<K> = RateLimiter<K, governor::state::keyed::DefaultKeyedStateStore<K>, governor::clock::DefaultClock>;

/// The limiters.
pub(crate) struct Limiters {
    addresses: Keyed<[u8; 16]>,
    customers: Keyed<(i64, i64)>,
}

fn quota(rate: Rate) -> Quota {
    let per_second = NonZeroU32::new(rate.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst.max(rate.per_second).max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

/// Milliseconds until a refused key may try again (at least 1).
fn wait_ms(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> u64 {
    use governor::clock::Clock as _;
    let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
    (wait.as_millis() as u64).max(1)
}

impl Limiters {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            addresses: RateLimiter::keyed(quota(limits.per_address)),
            customers: RateLimiter::keyed(quota(limits.per_customer)),
        }
    }

    fn address_key(addr: IpAddr) -> [u8; 16] {
        match addr {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                octets
            }
        }
    }

    /// Takes one request from `addr`'s allowance; `Err(ms)` to wait when it has none.
    pub(crate) fn address(&self, addr: IpAddr) -> Result<(), u64> {
        if self.addresses.len() > PRUNE_AT {
            self.addresses.retain_recent();
        }
        self.addresses.check_key(&Self::address_key(addr)).map_err(|n| wait_ms(&n))
    }

    /// Takes one request from the customer's allowance; `Err(ms)` to wait when it has none.
    pub(crate) fn customer(&self, workspace: i64, customer: i64) -> Result<(), u64> {
        if self.customers.len() > PRUNE_AT {
            self.customers.retain_recent();
        }
        self.customers.check_key(&(workspace, customer)).map_err(|n| wait_ms(&n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_and_the_next_request_waits_while_others_go_on() {
        let limiters = Limiters::new(Limits {
            per_address: Rate { per_second: 1, burst: 3 },
            per_customer: Rate { per_second: 1, burst: 2 },
        });
        let here: IpAddr = "203.0.113.9".parse().expect("address");
        for _ in 0..3 {
            assert_eq!(limiters.address(here), Ok(()));
        }
        let wait = limiters.address(here).expect_err("the fourth waits");
        assert!((1..=1000).contains(&wait), "{wait}");
        assert_eq!(limiters.address("203.0.113.10".parse().expect("address")), Ok(()), "another address");
        // One IPv6 host's /64 is one address.
        let a: IpAddr = "2001:db8::1".parse().expect("address");
        let b: IpAddr = "2001:db8::ffff:2".parse().expect("address");
        for _ in 0..3 {
            assert_eq!(limiters.address(a), Ok(()));
        }
        assert!(limiters.address(b).is_err());
        assert_eq!(limiters.customer(1, 7), Ok(()));
        assert_eq!(limiters.customer(1, 7), Ok(()));
        assert!(limiters.customer(1, 7).is_err());
        assert_eq!(limiters.customer(2, 7), Ok(()), "the same id in another workspace");
    }
}
