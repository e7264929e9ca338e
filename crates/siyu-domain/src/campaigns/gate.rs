//! A flash sale's gate: what this process knows of a sale, so that the many attempts a sale
//! draws are answered from memory and only those that can succeed reach the database.
//!
//! The store decides every purchase (one conditional transaction, see [`super::store`]); the gate
//! only refuses early what the store would refuse: a customer who holds as many units as the
//! sale allows (counting their purchases in flight), and anyone once every unit is taken. While
//! the units left are all held by purchases in flight, an attempt waits for them to settle instead
//! of guessing. Another node's sales and releases are not seen here: once this process believes
//! the sale sold out, one attempt a second reads the sale's count again, so a unit released
//! elsewhere is back on sale here within a second; a customer who bought on another node is
//! refused by the store, and remembered.

use super::store::{AttemptCounts, Purchase, StoredFlashSale};
use crate::error::CampaignError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// How long a belief that the sale is sold out stands before the count is read again.
pub(crate) const RECHECK_MS: i64 = 1_000;

/// What an attempt may do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Refused from memory.
    Refuse(CampaignError),
    /// Units left are all held by purchases in flight: wait for one to settle, then ask again.
    Wait,
    /// The sale is believed sold out and due a look: read its count, then ask again.
    Recheck,
    /// Go to the store: a unit and the customer's place are held for this attempt.
    Go,
}

#[derive(Default)]
struct State {
    /// Units taken as this process last knew.
    sold: i64,
    /// Purchases sent to the store and not settled.
    in_flight: i64,
    /// Units each customer holds, counting their purchases in flight.
    buyers: HashMap<i64, i64, foldhash::fast::RandomState>,
    /// When the sold-out belief was last checked (unix ms).
    checked_ms: i64,
}

/// Attempts counted since the last flush.
#[derive(Default)]
pub(crate) struct Counters {
    attempts: AtomicI64,
    sold_out: AtomicI64,
    limit_reached: AtomicI64,
    not_eligible: AtomicI64,
    closed: AtomicI64,
    rate_limited: AtomicI64,
}

impl Counters {
    /// Counts an attempt's refusal.
    pub(crate) fn refused(&self, error: &CampaignError) {
        let counter = match error {
            CampaignError::SoldOut => &self.sold_out,
            CampaignError::LimitReached(_) => &self.limit_reached,
            CampaignError::NotEligible(_) => &self.not_eligible,
            CampaignError::NotStarted(_) | CampaignError::Ended(_) => &self.closed,
            CampaignError::RateLimited(_) => &self.rate_limited,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an attempt.
    pub(crate) fn attempted(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the counts since the last call.
    pub(crate) fn take(&self) -> AttemptCounts {
        let take = |counter: &AtomicI64| counter.swap(0, Ordering::Relaxed);
        AttemptCounts {
            attempts: take(&self.attempts),
            sold_out: take(&self.sold_out),
            limit_reached: take(&self.limit_reached),
            not_eligible: take(&self.not_eligible),
            closed: take(&self.closed),
            rate_limited: take(&self.rate_limited),
        }
    }

    /// Puts back counts a flush could not save.
    pub(crate) fn restore(&self, counts: &AttemptCounts) {
        self.attempts.fetch_add(counts.attempts, Ordering::Relaxed);
        self.sold_out.fetch_add(counts.sold_out, Ordering::Relaxed);
        self.limit_reached.fetch_add(counts.limit_reached, Ordering::Relaxed);
        self.not_eligible.fetch_add(counts.not_eligible, Ordering::Relaxed);
        self.closed.fetch_add(counts.closed, Ordering::Relaxed);
        self.rate_limited.fetch_add(counts.rate_limited, Ordering::Relaxed);
    }
}

/// One sale's gate.
pub(crate) struct Gate {
    /// The sale as loaded.
    pub(crate) sale: StoredFlashSale,
    state: Mutex<State>,
    /// Woken whenever a purchase in flight settles.
    settled: tokio::sync::Notify,
    /// Attempts and refusals not yet saved.
    pub(crate) counters: Counters,
}

impl Gate {
    /// A gate over a sale as stored and the units its buyers hold.
    pub(crate) fn new(sale: StoredFlashSale, buyers: impl IntoIterator<Item = (i64, i64)>) -> Self {
        let state = State { sold: sale.sold, buyers: buyers.into_iter().collect(), ..State::default() };
        Self { sale, state: Mutex::new(state), settled: tokio::sync::Notify::new(), counters: Counters::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("gate lock is never poisoned")
    }

    /// A future that completes at the next settlement; made before [`Self::admit`] so that a
    /// settlement between the two is not missed.
    pub(crate) fn settled(&self) -> tokio::sync::futures::Notified<'_> {
        self.settled.notified()
    }

    /// Decides what an attempt by `customer` at `now_ms` may do; on [`Admit::Go`] the unit and the
    /// customer's place are held until [`Self::settle`].
    pub(crate) fn admit(&self, customer: i64, now_ms: i64) -> Admit {
        let mut state = self.state();
        let held = state.buyers.get(&customer).copied().unwrap_or(0);
        if held >= self.sale.per_customer {
            return Admit::Refuse(CampaignError::LimitReached(self.sale.per_customer));
        }
        if state.sold + state.in_flight >= self.sale.stock {
            if state.in_flight > 0 {
                return Admit::Wait;
            }
            if now_ms - state.checked_ms < RECHECK_MS {
                return Admit::Refuse(CampaignError::SoldOut);
            }
            state.checked_ms = now_ms;
            return Admit::Recheck;
        }
        state.in_flight += 1;
        *state.buyers.entry(customer).or_insert(0) += 1;
        Admit::Go
    }

    /// Takes the sale's count as just read from the store.
    pub(crate) fn rechecked(&self, sold: i64) {
        let mut state = self.state();
        state.sold = sold;
    }

    /// Settles an attempt admitted with [`Admit::Go`] with what the store did (`None`: it failed).
    pub(crate) fn settle(&self, customer: i64, outcome: Option<&Purchase>, now_ms: i64) {
        {
            let mut state = self.state();
            state.in_flight -= 1;
            let placed = matches!(outcome, Some(Purchase::Placed(_)));
            if placed {
                state.sold += 1;
            } else if let Some(held) = state.buyers.get_mut(&customer) {
                *held -= 1;
                if *held <= 0 {
                    state.buyers.remove(&customer);
                }
            }
            match outcome {
                Some(Purchase::SoldOut { sold }) => {
                    state.sold = (*sold).max(self.sale.stock);
                    state.checked_ms = now_ms;
                }
                Some(Purchase::LimitReached) => {
                    state.buyers.insert(customer, self.sale.per_customer);
                }
                _ => {}
            }
        }
        self.settled.notify_waiters();
    }

    /// Gives back units of orders this process released.
    pub(crate) fn released(&self, customers: &[i64]) {
        {
            let mut state = self.state();
            state.sold = (state.sold - customers.len() as i64).max(0);
            for customer in customers {
                if let Some(held) = state.buyers.get_mut(customer) {
                    *held -= 1;
                    if *held <= 0 {
                        state.buyers.remove(customer);
                    }
                }
            }
            state.checked_ms = 0;
        }
        self.settled.notify_waiters();
    }

    /// Units left as this process knows them.
    pub(crate) fn left(&self) -> i64 {
        let state = self.state();
        (self.sale.stock - state.sold - state.in_flight).max(0)
    }

    /// Units `customer` holds as this process knows them.
    pub(crate) fn held_by(&self, customer: i64) -> i64 {
        self.state().buyers.get(&customer).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaigns::store::{OrderStatus, StoredOrder};
    use siyu_core::CustomerId;

    fn sale(stock: i64, per_customer: i64) -> StoredFlashSale {
        let at = jiff::Timestamp::UNIX_EPOCH;
        StoredFlashSale {
            id: 1,
            name: "s".into(),
            sku: "k".into(),
            title: "t".into(),
            price_fen: 1,
            stock,
            sold: 0,
            starts_at: at,
            ends_at: at,
            per_customer,
            segment: None,
            pay_minutes: 15,
            created_at: at,
        }
    }

    fn placed(customer: i64) -> Purchase {
        let at = jiff::Timestamp::UNIX_EPOCH;
        Purchase::Placed(StoredOrder {
            id: 1,
            sale_id: 1,
            customer: CustomerId(customer),
            status: OrderStatus::Reserved,
            created_at: at,
            pay_by: at,
            settled_at: None,
            payment_ref: None,
        })
    }

    #[test]
    fn the_gate_holds_units_in_flight_and_refuses_only_what_the_store_would() {
        let gate = Gate::new(sale(2, 1), []);
        assert_eq!(gate.admit(1, 0), Admit::Go);
        assert_eq!(gate.admit(1, 0), Admit::Refuse(CampaignError::LimitReached(1)), "a second purchase in flight");
        assert_eq!(gate.admit(2, 0), Admit::Go);
        assert_eq!(gate.admit(3, 0), Admit::Wait, "both units are in flight");
        gate.settle(2, None, 0);
        assert_eq!(gate.admit(3, 0), Admit::Go, "a failed purchase gave its unit back");
        gate.settle(1, Some(&placed(1)), 0);
        gate.settle(3, Some(&placed(3)), 0);
        assert_eq!(gate.left(), 0);
        let at = 1_800_000_000_000;
        assert_eq!(gate.admit(4, at), Admit::Recheck, "sold out as far as it knows: read the count once");
        assert_eq!(gate.admit(4, at + 10), Admit::Refuse(CampaignError::SoldOut));
        assert_eq!(gate.admit(4, at + RECHECK_MS + 10), Admit::Recheck, "a second later, once more");
        gate.released(&[3]);
        assert_eq!(gate.admit(3, at + RECHECK_MS + 20), Admit::Go, "a released unit and buyer are free again");
    }

    #[test]
    fn the_store_refusing_a_limit_or_the_stock_is_remembered() {
        let gate = Gate::new(sale(5, 2), [(9, 1)]);
        assert_eq!(gate.admit(9, 0), Admit::Go);
        gate.settle(9, Some(&Purchase::LimitReached), 0);
        assert_eq!(gate.admit(9, 0), Admit::Refuse(CampaignError::LimitReached(2)), "bought on another node");
        assert_eq!(gate.admit(8, 0), Admit::Go);
        gate.settle(8, Some(&Purchase::SoldOut { sold: 5 }), 7);
        assert_eq!(gate.admit(7, 8), Admit::Refuse(CampaignError::SoldOut), "sold out on other nodes");
        assert_eq!(gate.held_by(8), 0);
    }
}
