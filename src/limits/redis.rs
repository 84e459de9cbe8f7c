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

use crate::store::rate_windows::{Events, Window};

/// `KEYS` the windows; `ARGV` now, then each key's window length in seconds
/// and events to add (0 only reads). Returns `{started_at, count}` per key,
/// flattened. One script, so a batch is atomic and one round trip.
const COUNT: &str = r"
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i])
  local add = tonumber(ARGV[2 * i + 1])
  local w = redis.call('HMGET', key, 's', 'c')
  local s = tonumber(w[1])
  local c = tonumber(w[2])
  if s == nil or c == nil or s + window <= now then
    s = now
    c = 0
  end
  if add > 0 then
    c = c + add
    redis.call('HSET', key, 's', s, 'c', c)
    redis.call('EXPIRE', key, s + window - now + 1)
  end
  out[2 * i - 1] = s
  out[2 * i] = c
end
return out
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

    /// Count `events` at `now` (an `add` of 0 only reads): each key's
    /// window as counted, in order.
    pub async fn count(&self, events: &[Events], now: i64) -> Result<Vec<Window>, String> {
        let mut invocation = self.count.prepare_invoke();
        invocation.arg(now);
        for e in events {
            invocation.key(&e.key).arg(e.window).arg(e.add);
        }
        let mut connection = self.connection.clone();
        let flat: Vec<i64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| e.to_string())?;
        Ok(flat
            .chunks_exact(2)
            .map(|w| Window {
                started_at: w[0],
                count: w[1].clamp(0, i64::from(u32::MAX)) as u32,
            })
            .collect())
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
