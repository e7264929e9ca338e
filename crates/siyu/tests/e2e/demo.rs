//! The demo brand tells one consistent story per customer: created when first seen, consent
//! granted no earlier than the policy it cites, lifecycle stage and RFM from the same orders its
//! traits count, and purchase behaviour varied enough for the LTV fit to converge.

use crate::{Backend, spawn_app};
use siyu_analytics::models::Stage;
use siyu_core::CustomerId;
use siyu_domain::access::Principal;

const DAY_US: i64 = 86_400_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_customers_are_created_when_first_seen_consent_follows_its_policy_and_ltv_converges() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    siyu::demo::run(&app.services, 300, 7, false).await.unwrap();
    let ws = app.services.access.workspace_by_slug(siyu::demo::SLUG).await.unwrap();
    let owner = Principal::cli(ws.id);
    let computed = app.services.models.run_models(&owner, None).await.unwrap();
    assert_eq!(computed.models.customers.len(), 300, "every demo customer has behaviour");
    let mut repeat_buyers_long_known = 0;
    for model in &computed.models.customers {
        let customer = app.services.customers.customer(&owner, CustomerId(model.customer)).await.unwrap();
        let created_us = customer.created_at.as_microsecond();
        assert!(created_us <= model.first_seen_us, "customer {}: created after its first event", model.customer);
        // created_at is stored to the millisecond.
        assert!(model.first_seen_us - created_us < 1_000, "customer {}: first seen when created", model.customer);
        let trait_of = |key: &str| customer.traits[key].value.as_i64().unwrap();
        assert_eq!(trait_of("orders"), i64::from(model.orders), "customer {}: orders trait", model.customer);
        let known_days = (computed.as_of_us - created_us) / DAY_US;
        assert_eq!(trait_of("first_seen_days_ago"), known_days, "customer {}", model.customer);
        // A customer with several orders is new only when first seen in the last 30 days.
        if model.orders >= 3 && known_days >= 30 {
            repeat_buyers_long_known += 1;
            assert_ne!(model.stage, Stage::New, "customer {}: {model:?}", model.customer);
        }
        if model.stage == Stage::New {
            assert!(known_days < 30, "customer {}: new after {known_days} days", model.customer);
        }
        for record in app.services.customers.consent(&owner, CustomerId(model.customer)).await.unwrap().history {
            let (year, month) = record.policy_version.split_once('-').unwrap();
            let policy = jiff::civil::date(year.parse().unwrap(), month.parse().unwrap(), 1)
                .to_zoned(jiff::tz::TimeZone::UTC)
                .unwrap()
                .timestamp();
            assert!(record.recorded_at >= policy, "customer {}: {record:?}", model.customer);
            assert!(record.recorded_at >= customer.created_at, "customer {}: {record:?}", model.customer);
        }
    }
    assert!(repeat_buyers_long_known > 20, "{repeat_buyers_long_known} repeat buyers");
    let fitted = computed.ltv_fitted().await;
    let fit = fitted.result.as_ref().unwrap();
    assert!(fit.converged(), "{:?}", fit.bgnbd);
    let spend = fit.gamma_gamma.as_ref().unwrap();
    assert!(spend.convergence.converged(), "{spend:?}");
    assert!(fit.customers.iter().any(|c| c.expected_value > 0.0), "the LTV chart has values");
}
