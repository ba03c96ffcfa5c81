//! The PostgreSQL store against the database this machine runs (`AIMOS_TEST_PG`, default
//! postgres://postgres@127.0.0.1:5432/test). Each test works in a schema of its own.

use std::sync::Arc;

use aimos_core::{Store, StoreError};
use aimos_store::{PG_SCHEMA_VERSION, PgStore};

fn base_url() -> String {
    std::env::var("AIMOS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh schema, dropped at the end of the test; `url` points into it.
pub struct Schema {
    pub url: String,
    name: String,
}

impl Schema {
    pub fn new() -> Schema {
        let name = format!("aimos_test_{}", uuid_like());
        let mut client =
            postgres::Client::connect(&base_url(), postgres::NoTls).unwrap_or_else(|err| {
                panic!(
                    "PostgreSQL at {} is needed for these tests (see docs/services.md): {err}",
                    base_url()
                )
            });
        client.batch_execute(&format!("CREATE SCHEMA {name}")).unwrap();
        let url = format!("{}?options=-c%20search_path%3D{name}", base_url());
        Schema { url, name }
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&base_url(), postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

fn uuid_like() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}_{}", nanos, std::process::id())
}

#[test]
fn a_database_from_a_newer_aimos_is_refused_and_left_alone() {
    let db = Schema::new();
    let store = PgStore::open(&db.url).unwrap();
    store.put_insight(&crate::insight("0001", "kept", "kept")).unwrap();
    drop(store);
    db.client().batch_execute("UPDATE aimos_schema SET version = 99").unwrap();
    let err = PgStore::open(&db.url).expect_err("newer");
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, supported, .. } if supported == PG_SCHEMA_VERSION),
        "{err}"
    );
    let count: i64 = db.client().query_one("SELECT count(*) FROM insights", &[]).unwrap().get(0);
    assert_eq!(count, 1, "nothing was touched");
}

#[test]
fn someone_elses_tables_are_refused() {
    let db = Schema::new();
    db.client().batch_execute("CREATE TABLE insights (x INT)").unwrap();
    let err = PgStore::open(&db.url).expect_err("foreign");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = PgStore::open(&format!("postgres://aimos:hunter2secret@127.0.0.1:{port}/ledger"))
        .expect_err("nothing there");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}/ledger")), "{text}");
    assert!(!text.contains("hunter2secret"), "{text}");
    let err = PgStore::open("postgres://aimos:hunter2secret@127.0.0.1:5432/test?nonsense=1")
        .expect_err("bad url");
    assert!(!err.to_string().contains("hunter2secret"), "{err}");
}

#[test]
fn two_replicas_share_insights_and_a_key_budget() {
    let db = Schema::new();
    let a: Arc<dyn Store> = Arc::new(PgStore::open(&db.url).unwrap());
    let b: Arc<dyn Store> = Arc::new(PgStore::open(&db.url).unwrap());
    a.put_insight(&crate::insight("0001", "shared problem", "shared diagnosis")).unwrap();
    assert_eq!(b.insight("0001").unwrap().map(|i| i.problem), Some("shared problem".into()));
    assert_eq!(b.insights(Some("shared"), 5, 0).unwrap().len(), 1);
    let key = aimos_core::KeyRecord {
        id: "k1".into(),
        name: "team".into(),
        hash: "h".into(),
        budget_usd: Some(1.0),
        spent_usd: 0.0,
        rpm: None,
        created_at: "2026-11-26T00:00:00Z".into(),
        revoked_at: None,
        namespace: None,
        admin: false,
    };
    a.create_key(&key).unwrap();
    let threads: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|store| {
            std::thread::spawn(move || {
                (0..50).for_each(|_| {
                    store.add_key_spend("k1", 0.01).unwrap();
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!((b.key_by_hash("h").unwrap().unwrap().spent_usd - 1.0).abs() < 1e-9);
}
