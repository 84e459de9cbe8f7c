//! Rate-limit windows in Redis (`--redis-url`): the same fixed windows as
//! the database's (`store::rate_windows`), counted by one Lua script so that
//! a window's read, increment and expiry are atomic across replicas.
//!
//! Windows are timed by the issuer's clock (passed in), not Redis's, so
//! every counter behaves alike; Redis's expiry only clears windows that
//! ended.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

/// `KEYS[1]` the window; `ARGV` window seconds, now, events to add (0 peeks).
/// Returns `{started_at, count}`.
const COUNT: &str = r"
local window = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local add = tonumber(ARGV[3])
local w = redis.call('HMGET', KEYS[1], 's', 'c')
local s = tonumber(w[1])
local c = tonumber(w[2])
if s == nil or c == nil or s + window <= now then
  s = now
  c = 0
end
if add > 0 then
  c = c + add
  redis.call('HSET', KEYS[1], 's', s, 'c', c)
  redis.call('EXPIRE', KEYS[1], s + window - now + 1)
end
return {s, c}
";

/// A connection to Redis that reconnects by itself.
pub struct Redis {
    connection: ConnectionManager,
    count: Script,
}

impl Redis {
    /// Connect to `url` (`redis://` or `rediss://`); fails when Redis cannot
    /// be reached now, so that a wrong URL is found at start-up.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = Client::open(url).map_err(|e| anyhow::anyhow!("--redis-url: {e}"))?;
        // A limiter must not hold a request up: answers come within half a
        // second or the request passes uncounted (`Limits::count`).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach Redis at --redis-url: {e}"))?;
        Ok(Self {
            connection,
            count: Script::new(COUNT),
        })
    }

    /// Count (`add`) or peek at `key`'s window of `window` seconds at `now`:
    /// `(started_at, count)`.
    pub async fn count(
        &self,
        key: &str,
        window: i64,
        add: bool,
        now: i64,
    ) -> Result<(i64, u32), String> {
        let mut connection = self.connection.clone();
        let (started_at, count): (i64, i64) = self
            .count
            .key(key)
            .arg(window)
            .arg(now)
            .arg(i64::from(add))
            .invoke_async(&mut connection)
            .await
            .map_err(|e| e.to_string())?;
        Ok((started_at, count.clamp(0, i64::from(u32::MAX)) as u32))
    }

    /// Forget `key`'s window.
    pub async fn forget(&self, key: &str) -> Result<(), String> {
        let mut connection = self.connection.clone();
        redis::cmd("DEL")
            .arg(key)
            .query_async::<()>(&mut connection)
            .await
            .map_err(|e| e.to_string())
    }
}
