//! Fetching untrusted source URLs safely. Only http(s) without credentials; and hosts that are,
//! or resolve to, loopback, private, link-local (cloud metadata), CGNAT, multicast or
//! unspecified addresses are refused, unless `download.allow_hosts` names them. The check runs
//! before the request, again in the client's resolver at connect time (so DNS rebinding does
//! not help), and on every redirect. A refusal is a permanent job error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use creel_core::JobError;
use creel_core::config::DownloadConfig;

/// Why a source is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("source refused by the SSRF policy: {0}")]
pub struct Refused(pub String);

/// Whether an address may be fetched without being allow-listed. IPv6 forms that carry an
/// IPv4 address (IPv4-mapped and -compatible, SIIT `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`
/// and `64:ff9b:1::/48`, 6to4 `2002::/16`, Teredo `2001::/32`) are judged by that address.
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4) && is_public_v6(v6),
            None => is_public_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address stands for or tunnels to, if it is of such a form.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4); // ::ffff:a.b.c.d
    }
    match s {
        // ::a.b.c.d (IPv4-compatible, deprecated); :: and ::1 are judged as IPv6
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(low(hi, lo)),
        // ::ffff:0:a.b.c.d (SIIT, IPv4-translated)
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(low(hi, lo)),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        // 64:ff9b:1::/48 (local-use NAT64): the IPv4 address is in the last 32 bits
        [0x64, 0xff9b, 1, ..] => Some(low(s[6], s[7])),
        // 2002:AABB:CCDD::/48 (6to4)
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        // 2001:0::/32 (Teredo): the client's IPv4 address, inverted, in the last 32 bits
        [0x2001, 0, ..] => Some(low(!s[6], !s[7])),
        _ => None,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, including 169.254.169.254 (cloud metadata)
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation 2001:db8::/32
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0])) // discard-only 100::/64
}

/// The source policy.
#[derive(Debug, Clone)]
pub struct SourcePolicy {
    allow_hosts: Arc<Vec<String>>,
}

impl SourcePolicy {
    /// A policy from config.
    #[must_use]
    pub fn new(cfg: &DownloadConfig) -> Self {
        Self {
            allow_hosts: Arc::new(
                cfg.allow_hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
            ),
        }
    }

    fn allowed_host(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.allow_hosts.contains(&host)
    }

    /// Checks a URL's form and, for an IP-literal host, its address.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!(
                "scheme {} is not http or https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused("the URL carries credentials".into()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Refused("the URL has no host".into()))?;
        if self.allowed_host(host) {
            return Ok(());
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        match literal {
            Some(ip) if !is_public(ip) => Err(Refused(format!("{host} is a non-public address"))),
            _ => Ok(()),
        }
    }

    /// Resolves a host name and refuses it if any address is non-public (unless allow-listed).
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, Refused> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| Refused(format!("{host} does not resolve: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(Refused(format!("{host} has no addresses")));
        }
        if !self.allowed_host(host)
            && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip()))
        {
            return Err(Refused(format!(
                "{host} resolves to the non-public address {}",
                bad.ip()
            )));
        }
        Ok(addrs)
    }

    /// Checks a URL fully before a request: its form, then its host's addresses.
    pub async fn check(&self, url: &url::Url) -> Result<(), Refused> {
        self.check_url(url)?;
        match url.host() {
            Some(url::Host::Domain(d)) => self.resolve(d).await.map(|_| ()),
            _ => Ok(()),
        }
    }

    /// An HTTP client that enforces this policy at connect time and on every redirect. It
    /// never uses a proxy (`HTTP_PROXY` and the like are ignored): through a proxy the target
    /// would be resolved and reached by the proxy, out of this policy's sight.
    pub fn client(&self) -> reqwest::Result<reqwest::Client> {
        let on_redirect = self.clone();
        reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .dns_resolver(Arc::new(self.clone()))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 10 {
                    return attempt.error(Refused("more than 10 redirects".into()));
                }
                match on_redirect.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            }))
            .build()
    }
}

impl reqwest::dns::Resolve for SourcePolicy {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.clone();
        Box::pin(async move {
            let addrs = policy.resolve(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Classifies a transport error: a policy refusal anywhere in its chain is permanent.
#[must_use]
pub fn classify(e: &reqwest::Error) -> JobError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return JobError::permanent(refused.to_string());
        }
        source = s.source();
    }
    if e.is_builder() {
        JobError::permanent(format!("bad source request: {e}"))
    } else {
        JobError::retryable(format!("source transfer failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::ffff:0:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo to 127.0.0.1
            "2001:db8::1",
        ] {
            let ip: IpAddr = a.parse().expect(a);
            assert!(!is_public(ip), "{a} must be refused");
        }
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "47.96.0.1",
            "100.128.0.1",
            "172.32.0.1",
            "2400:3200::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let ip: IpAddr = a.parse().expect(a);
            assert!(is_public(ip), "{a} is public");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_and_the_allow_list_is_honoured() {
        let strict = SourcePolicy::new(&DownloadConfig::default());
        let u = |s: &str| url::Url::parse(s).expect(s);
        for bad in [
            "http://127.0.0.1/a",
            "http://[::1]/a",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5:9000/x",
            "ftp://example.com/a",
            "http://user:pw@example.com/a",
            "http://localhost/a",
        ] {
            assert!(
                strict.check(&u(bad)).await.is_err(),
                "{bad} must be refused"
            );
        }
        let lax = SourcePolicy::new(&DownloadConfig {
            allow_hosts: vec!["127.0.0.1".into(), "localhost".into()],
            ..DownloadConfig::default()
        });
        lax.check(&u("http://127.0.0.1:8080/a"))
            .await
            .expect("allow-listed");
        lax.check(&u("http://localhost:8080/a"))
            .await
            .expect("allow-listed");
        assert!(lax.check(&u("http://10.0.0.1/a")).await.is_err());
    }
}
