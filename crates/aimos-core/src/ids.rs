//! Ids and timestamps of records: UUIDv7 ids, which sort by creation time, and RFC 3339 times in
//! UTC with millisecond precision, which sort as text. Both stores compare them as strings.

/// A new UUIDv7, as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time, RFC 3339 in UTC with millisecond precision (`2026-11-27T07:09:52.123Z`).
pub fn now_rfc3339() -> String {
    rfc3339(jiff::Timestamp::now())
}

/// `at` as RFC 3339 in UTC, with milliseconds (truncated, so that times never sort ahead of
/// when they happened).
pub fn rfc3339(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64, nanos: i32) -> String {
        rfc3339(jiff::Timestamp::new(seconds, nanos).expect("in range"))
    }

    #[test]
    fn times_are_utc_with_milliseconds() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // A leap day, and nanoseconds truncated rather than rounded up into the next second.
        assert_eq!(at(951_868_799, 999_999_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(1_795_331_392, 123_000_000), "2026-11-22T07:09:52.123Z");
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.as_str() > "2026-01-01", "{now}");
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(a < b, "{a} {b}");
    }
}
