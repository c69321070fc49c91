//! `/admin/stats`, checked against an empty service and a known data set.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate, Utc};

use crate::helpers::{spawn_app, Stats, TokenTotals};

fn today_utc() -> NaiveDate {
    Utc::now().date_naive()
}

#[tokio::test]
async fn stats_of_an_empty_service_are_zero_and_latency_is_null() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.new_admin().await;

    // Act
    let stats: Stats = app.get_json("/admin/stats", &admin.token).await;

    // Assert
    assert_eq!(stats.users, 1);
    assert_eq!(stats.sessions, 0);
    assert_eq!(stats.messages, 0);
    assert_eq!(stats.messages_last_24h, 0);
    assert_eq!(stats.fallback_ratio, 0.0);
    assert_eq!(stats.avg_latency_ms, None);
    assert_eq!(
        stats.tokens,
        TokenTotals {
            prompt: 0,
            completion: 0
        }
    );
    assert!(stats.by_model.is_empty(), "{:?}", stats.by_model);
    let days = &stats.messages_per_day;
    assert_eq!(days.len(), 30);
    assert!(days.iter().all(|d| d.count == 0), "{days:?}");
}

#[tokio::test]
async fn stats_match_a_known_data_set() {
    // Arrange: 1 admin + 2 users; Ann has 2 sessions with 2 and 1 exchanges
    // (each a user and an offline assistant message), Bob 1 empty session.
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ann = app.new_user("Ann").await;
    let bob = app.new_user("Bob").await;
    let day_before = today_utc();
    let first = app.new_session(&ann).await.id;
    let second = app.new_session(&ann).await.id;
    app.send(&ann, &first, "How big should my emergency fund be?")
        .await;
    app.send(&ann, &first, "And where should I keep it?").await;
    app.send(&ann, &second, "What is an index fund?").await;
    app.new_session(&bob).await;

    // Act
    let stats: Stats = app.get_json("/admin/stats", &admin.token).await;
    let day_after = today_utc();

    // Assert
    assert_eq!(stats.users, 3);
    assert_eq!(stats.sessions, 3);
    assert_eq!(stats.messages, 6);
    assert_eq!(stats.messages_last_24h, 6);
    assert_eq!(stats.fallback_ratio, 1.0);
    assert_eq!(stats.by_model, BTreeMap::from([("fallback".to_owned(), 3)]));
    assert_eq!(
        stats.tokens,
        TokenTotals {
            prompt: 0,
            completion: 0
        }
    );
    let latency = stats.avg_latency_ms.expect("a mean latency after replies");
    assert!(latency >= 0.0, "{latency}");

    let days = &stats.messages_per_day;
    assert_eq!(days.len(), 30);
    let total: i64 = days.iter().map(|d| d.count).sum();
    assert_eq!(total, 6);
    if day_before != day_after {
        // Midnight (UTC) passed while the data was being written; the split
        // between the two days is not predictable.
        return;
    }
    let today = day_after;
    let last = days.last().expect("30 days");
    assert_eq!(last.date, today.to_string());
    assert_eq!(last.count, 6);
    // Oldest first, one entry per consecutive day ending today.
    let expected: Vec<String> = (0..30u64)
        .rev()
        .map(|back| today.checked_sub_days(Days::new(back)).unwrap().to_string())
        .collect();
    let dates: Vec<&str> = days.iter().map(|d| d.date.as_str()).collect();
    assert_eq!(dates, expected);
}
