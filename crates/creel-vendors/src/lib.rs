//! creel's vendor clients: one module per vendor (Plaso, Baijiayun, WeClassroom), each with a
//! pure signing function (time and randomness passed in), typed requests and answers, a client
//! (base URL and every endpoint path from config, with documented defaults; timeouts; no hidden
//! retries), one function that classifies every answer code, and callback parsing and
//! verification. Every call first takes a permit from a [`creel_core::CallLimiter`].

pub mod baijiayun;
pub mod callback;
pub mod endpoint;
pub mod error;
mod lenient;
pub mod plaso;
mod transport;
pub mod weclassroom;

use std::sync::Arc;

use creel_core::CallLimiter;
use creel_core::config::{Vendor, VendorAccount};

pub use callback::{CallbackListener, Received, VendorCallback};
pub use endpoint::{Endpoint, Paths};
pub use error::{Classification, VendorError};

pub use baijiayun::BaijiayunClient;
pub use plaso::PlasoClient;
pub use weclassroom::WeclassroomClient;

/// A client for any configured account.
#[derive(Debug, Clone)]
pub enum VendorClient {
    /// A Plaso account.
    Plaso(PlasoClient),
    /// A Baijiayun account.
    Baijiayun(BaijiayunClient),
    /// A WeClassroom account.
    Weclassroom(WeclassroomClient),
}

impl VendorClient {
    /// The client for the account named `name`.
    pub fn new(
        name: &str,
        account: &VendorAccount,
        http: reqwest::Client,
        limiter: Arc<dyn CallLimiter>,
    ) -> Result<Self, VendorError> {
        Ok(match account.vendor {
            Vendor::Plaso => Self::Plaso(PlasoClient::new(name, account, http, limiter)?),
            Vendor::Baijiayun => {
                Self::Baijiayun(BaijiayunClient::new(name, account, http, limiter)?)
            }
            Vendor::Weclassroom => {
                Self::Weclassroom(WeclassroomClient::new(name, account, http, limiter)?)
            }
        })
    }
}

/// The endpoint table of `vendor`.
#[must_use]
pub fn endpoints(vendor: Vendor) -> &'static [Endpoint] {
    match vendor {
        Vendor::Plaso => &plaso::ENDPOINTS,
        Vendor::Baijiayun => &baijiayun::ENDPOINTS,
        Vendor::Weclassroom => &weclassroom::ENDPOINTS,
    }
}

/// Checks an account's config without building a client: endpoint path overrides name real
/// endpoints, the secret has the vendor's shape, the base URL parses. The message names the
/// field (`accounts.<name>.<field>`).
pub fn validate_account(name: &str, account: &VendorAccount) -> Result<(), VendorError> {
    VendorClient::new(
        name,
        account,
        reqwest::Client::new(),
        Arc::new(creel_core::Unlimited),
    )
    .map(|_| ())
}

/// The HTTP client for vendor APIs. Vendor base URLs are trusted, the places they redirect to
/// are not: a redirect is followed only within the origin (scheme, host and port) of the
/// request that received it, at most 5 times, so a vendor answer cannot steer creel to an
/// internal address.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt.previous().first().is_some_and(|first| {
                first.scheme() == attempt.url().scheme()
                    && first.host() == attempt.url().host()
                    && first.port_or_known_default() == attempt.url().port_or_known_default()
            });
            if attempt.previous().len() > 5 {
                attempt.error("more than 5 redirects")
            } else if same_origin {
                attempt.follow()
            } else {
                let to = attempt.url().origin().ascii_serialization();
                attempt.error(format!(
                    "a redirect to another origin ({to}) is not followed"
                ))
            }
        }))
        .build()
}

/// A client for every configured account, by account name.
#[derive(Debug, Clone, Default)]
pub struct VendorClients(std::collections::BTreeMap<String, VendorClient>);

impl VendorClients {
    /// Clients for `accounts` (name → account) sharing `http` and `limiter`.
    pub fn new<'a>(
        accounts: impl IntoIterator<Item = (&'a String, &'a VendorAccount)>,
        http: &reqwest::Client,
        limiter: &Arc<dyn CallLimiter>,
    ) -> Result<Self, VendorError> {
        accounts
            .into_iter()
            .map(|(name, a)| {
                VendorClient::new(name, a, http.clone(), Arc::clone(limiter))
                    .map(|c| (name.clone(), c))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The client of account `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&VendorClient> {
        self.0.get(name)
    }

    /// The Plaso client of account `name`; a config error (permanent) if it is not one.
    pub fn plaso(&self, name: &str) -> Result<&PlasoClient, VendorError> {
        match self.get(name) {
            Some(VendorClient::Plaso(c)) => Ok(c),
            _ => Err(not_configured(name, Vendor::Plaso)),
        }
    }

    /// The Baijiayun client of account `name`; a config error (permanent) if it is not one.
    pub fn baijiayun(&self, name: &str) -> Result<&BaijiayunClient, VendorError> {
        match self.get(name) {
            Some(VendorClient::Baijiayun(c)) => Ok(c),
            _ => Err(not_configured(name, Vendor::Baijiayun)),
        }
    }

    /// The WeClassroom client of account `name`; a config error (permanent) if it is not one.
    pub fn weclassroom(&self, name: &str) -> Result<&WeclassroomClient, VendorError> {
        match self.get(name) {
            Some(VendorClient::Weclassroom(c)) => Ok(c),
            _ => Err(not_configured(name, Vendor::Weclassroom)),
        }
    }
}

fn not_configured(name: &str, vendor: Vendor) -> VendorError {
    VendorError::Config {
        vendor,
        reason: format!("account {name:?} is not a configured {vendor} account"),
    }
}
