//! A connection to the primary a set of Redis Sentinels name, that follows a failover: the
//! primary is looked up (`SENTINEL get-master-addr-by-name`) and checked (`ROLE`) before use,
//! and looked up again after any error that says it may have moved (the connection broke, was
//! refused or timed out, or the server answered `READONLY`: the old primary came back as a
//! replica). A failed command is not resent: the caller's own retry reaches the new primary.

use std::sync::{Arc, Mutex};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo, Pipeline,
    RedisError, RedisFuture, RedisResult, ServerErrorKind, Value,
};

use crate::Timeouts;

/// Where the Sentinels are and which primary to ask them for.
#[derive(Clone, PartialEq, Eq)]
pub struct SentinelSpec {
    /// The name the Sentinels monitor the primary under.
    pub master_name: String,
    /// The Sentinels' URLs (`redis://host:26379`).
    pub sentinels: Vec<String>,
    /// How to log in to the primary (`redis://[user:password@]any-host/db`): everything but
    /// the address, which the Sentinels give.
    pub master_url: String,
}

impl SentinelSpec {
    /// The primary's connection info: its address from the first Sentinel that answers, the
    /// rest from `master_url`.
    ///
    /// # Errors
    /// No Sentinel answered with an address.
    pub async fn master_info(&self, timeouts: Timeouts) -> RedisResult<redis::ConnectionInfo> {
        let spec = self;
        let mut last = None;
        for url in &spec.sentinels {
            let lookup = async {
                let client = redis::Client::open(url.as_str())?;
                let config = AsyncConnectionConfig::new()
                    .set_response_timeout(Some(timeouts.connect))
                    .set_connection_timeout(Some(timeouts.connect));
                let mut c = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(&spec.master_name)
                    .query_async(&mut c)
                    .await?;
                addr.ok_or_else(|| fail(format!("{url} does not monitor {}", spec.master_name)))
            };
            match lookup.await {
                Ok((host, port)) => {
                    let info = spec.master_url.as_str().into_connection_info()?;
                    return match info.addr() {
                        ConnectionAddr::Tcp(..) => {
                            Ok(info.set_addr(ConnectionAddr::Tcp(host, port)))
                        }
                        _ => Err(fail(
                            "a Sentinel-managed primary is reached over redis:// (TCP)".into(),
                        )),
                    };
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| fail("no Sentinel configured".into())))
    }
}

/// A connection to the current primary; clones share it.
#[derive(Clone)]
pub struct SentinelConnection {
    shared: Arc<Shared>,
}

struct Shared {
    spec: SentinelSpec,
    timeouts: Timeouts,
    current: Mutex<Option<MultiplexedConnection>>,
    resolving: tokio::sync::Mutex<()>,
}

/// Whether an error may mean the primary moved.
fn may_have_moved(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

fn fail(what: String) -> RedisError {
    RedisError::from((ErrorKind::Client, "sentinel", what))
}

impl SentinelConnection {
    /// Looks up and connects to the primary.
    ///
    /// # Errors
    /// No Sentinel named a reachable primary.
    pub async fn open(spec: SentinelSpec, timeouts: Timeouts) -> RedisResult<Self> {
        let conn = Self {
            shared: Arc::new(Shared {
                spec,
                timeouts,
                current: Mutex::new(None),
                resolving: tokio::sync::Mutex::new(()),
            }),
        };
        conn.connection().await?;
        Ok(conn)
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.shared
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The connection to the current primary, looking it up if none is known.
    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let _one_lookup = self.shared.resolving.lock().await;
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let client =
            redis::Client::open(self.shared.spec.master_info(self.shared.timeouts).await?)?;
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(self.shared.timeouts.response))
            .set_connection_timeout(Some(self.shared.timeouts.connect));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
        let is_master = role
            .first()
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .is_some_and(|r| r == "master");
        if !is_master {
            return Err(fail(format!(
                "the server the Sentinels name for {} is not a primary (yet)",
                self.shared.spec.master_name
            )));
        }
        *self
            .shared
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets the primary after an error that says it may have moved.
    fn note(&self, result: &RedisResult<impl Sized>) {
        if let Err(e) = result
            && may_have_moved(e)
        {
            *self
                .shared
                .current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
    }
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut conn = self.connection().await?;
            let result = conn.req_packed_command(cmd).await;
            self.note(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut conn = self.connection().await?;
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.cached().map_or(0, |c| c.get_db())
    }
}
