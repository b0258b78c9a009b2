//! `creel vendor sign` and `creel vendor call`: how an operator debugs "1002 bad sign" at
//! 3 a.m. `sign` prints every intermediate of a signature (canonical string, signature; for
//! WeClassroom the serialized params, value, mac and signMsg); `call` makes one signed call and
//! prints the answer and its classification.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use creel_core::config::{Vendor, VendorAccount};
use creel_core::{Config, JobError};
use creel_vendors::weclassroom::php::PhpValue;
use creel_vendors::{Classification, VendorClient, VendorError, baijiayun, plaso, weclassroom};
use serde_json::{Value, json};

use crate::vendor_params::deduplicated;
pub use crate::vendor_params::{Param, ParamValue};

fn account<'a>(
    config: &'a Config,
    name: &str,
    vendor: Vendor,
) -> anyhow::Result<&'a VendorAccount> {
    let a = config
        .accounts
        .get(name)
        .with_context(|| format!("no account {name:?} in the config"))?;
    anyhow::ensure!(
        a.vendor == vendor,
        "account {name:?} is a {} account, not {vendor}",
        a.vendor
    );
    Ok(a)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether `creel vendor sign` prints the secret inside the canonical string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretDisplay {
    /// As `***` (the default: terminals get pasted into tickets).
    Masked,
    /// In clear, to recompute the hash by hand.
    Shown,
}

/// The intermediates of one signature, as JSON.
pub fn sign(
    config: &Config,
    vendor: Vendor,
    account_name: &str,
    params: &[Param],
    iv: Option<[u8; 16]>,
    display: SecretDisplay,
) -> anyhow::Result<Value> {
    let a = account(config, account_name, vendor)?;
    let params = &deduplicated(params);
    let secret = a.secret.expose();
    let mask = |s: String| match display {
        SecretDisplay::Shown => s,
        SecretDisplay::Masked => s.replace(secret, "***"),
    };
    Ok(match vendor {
        Vendor::Baijiayun => {
            // What the client sends: empty values are dropped before signing.
            let (empty, given): (Vec<&Param>, Vec<&Param>) =
                params.iter().partition(|p| p.value.text().is_empty());
            let mut p: BTreeMap<String, String> = given
                .iter()
                .map(|p| (p.key.clone(), p.value.text()))
                .collect();
            p.entry("partner_id".into()).or_insert_with(|| a.id.clone());
            p.entry("timestamp".into())
                .or_insert_with(|| now_unix().to_string());
            json!({
                "canonical": mask(baijiayun::sign::canonical_string(&p, secret)),
                "sign": baijiayun::sign::sign(&p, secret),
                "params": p,
                "dropped_empty": empty.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            })
        }
        Vendor::Plaso => {
            let mut p: BTreeMap<String, Value> = params
                .iter()
                .map(|p| (p.key.clone(), p.value.json()))
                .collect();
            p.entry("appId".into()).or_insert_with(|| json!(a.id));
            p.entry("validBegin".into())
                .or_insert_with(|| json!(now_unix().saturating_sub(a.plaso.clock_skew_secs)));
            p.entry("validTime".into())
                .or_insert_with(|| json!(a.plaso.valid_time_secs));
            json!({
                "canonical": plaso::sign::canonical_string(&p),
                "signature": plaso::sign::sign(&p, secret),
                "params": p,
            })
        }
        Vendor::Weclassroom => {
            let key = weclassroom::sign::SignKey::new(secret)?;
            let php: Vec<(String, PhpValue)> = params
                .iter()
                .map(|p| Ok((p.key.clone(), p.value.php()?)))
                .collect::<anyhow::Result<_>>()?;
            let iv = match iv {
                Some(iv) => iv,
                None => weclassroom::sign::random_iv()?,
            };
            let m = weclassroom::sign::sign_msg(&php, &key, iv);
            json!({
                "serialized": m.serialized,
                "iv": hex::encode(iv),
                "value": m.value,
                "mac": m.mac,
                "signMsg": m.sign_msg,
                "applicationID": a.id,
            })
        }
    })
}

/// Makes one signed call of `endpoint` (a name from the vendor's endpoint table), with a permit
/// from the cluster-wide limiter (the account's quota is shared with the fleet), and returns
/// the answer (or the error) with its classification.
pub async fn call(
    config: &Config,
    vendor: Vendor,
    endpoint: &str,
    account_name: &str,
    params: &[Param],
    max_wait: Duration,
) -> anyhow::Result<(Value, Classification)> {
    let a = account(config, account_name, vendor)?;
    let table = creel_vendors::endpoints(vendor);
    let Some(e) = table.iter().find(|e| e.name == endpoint) else {
        let names: Vec<_> = table.iter().map(|e| e.name).collect();
        anyhow::bail!(
            "{vendor} has no endpoint {endpoint:?}; known: {}",
            names.join(", ")
        );
    };
    // An operator's call counts against the same quota as the fleet's.
    let limiter = creel_limiter::ClusterLimiter::connect(
        &crate::settings::redis_target(config),
        &config.redis.prefix,
        [(&account_name.to_owned(), a)],
        config.limiter.clone(),
    )
    .await
    .with_context(|| {
        format!(
            "connecting the rate limiter to redis at {}",
            config.redis.display_url()
        )
    })?
    .with_wait_replicas(config.redis.wait_replicas);
    let client = VendorClient::new(
        account_name,
        a,
        creel_vendors::http_client()?,
        Arc::new(limiter),
    )?;
    let started = std::time::Instant::now();
    let result = loop {
        let result = call_once(&client, e, params).await?;
        // The quota has no slot yet (on a fresh Redis the first is one window away): wait for
        // it, saying so, rather than fail.
        if let Err(VendorError::Limited {
            error: JobError::RetryAfter { after, reason },
            ..
        }) = &result
            && started.elapsed() + *after <= max_wait
        {
            eprintln!(
                "waiting {:.1} s for a quota slot: {reason}",
                after.as_secs_f64()
            );
            tokio::time::sleep(*after).await;
            continue;
        }
        break result;
    };
    Ok(match result {
        Ok(answer) => (answer, Classification::Success),
        Err(err) => (
            json!({"error": err.to_string(), "vendor_code": err.vendor_code()}),
            err.classification(),
        ),
    })
}

/// One call of `e` through `client`.
async fn call_once(
    client: &VendorClient,
    e: &creel_vendors::Endpoint,
    params: &[Param],
) -> anyhow::Result<Result<Value, VendorError>> {
    let params = &deduplicated(params);
    Ok(match client {
        VendorClient::Baijiayun(c) => {
            let p = params
                .iter()
                .map(|p| (p.key.clone(), p.value.text()))
                .collect();
            c.call(e, p).await
        }
        VendorClient::Plaso(c) => {
            let p = params
                .iter()
                .map(|p| (p.key.clone(), p.value.json()))
                .collect();
            c.call(e, p).await
        }
        VendorClient::Weclassroom(c) => {
            let p = params
                .iter()
                .map(|p| Ok((p.key.clone(), p.value.php()?)))
                .collect::<anyhow::Result<_>>()?;
            c.call(e, p).await
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[&str]) -> Vec<Param> {
        list.iter().map(|s| s.parse().expect("param")).collect()
    }

    fn config_with(vendor: Vendor, id: &str, secret: &str) -> Config {
        let mut config = Config::default();
        config.accounts.insert(
            "a".into(),
            VendorAccount::new(vendor, id, creel_core::Secret::new(secret)),
        );
        config
    }

    /// The client drops empty values before signing; so does the debugger, saying so.
    #[test]
    fn baijiayun_sign_drops_empty_values_as_the_client_does() {
        let config = config_with(Vendor::Baijiayun, "12345", "8jewu3j93jjewi3jwj90093jkyu");
        let out = sign(
            &config,
            Vendor::Baijiayun,
            "a",
            &params(&["video_id=456", "note=", "timestamp=1596096142"]),
            None,
            SecretDisplay::Masked,
        )
        .expect("signs");
        assert_eq!(out["sign"], "95b1618b51f5e38f1889f1bee9d54c00");
        assert_eq!(out["dropped_empty"], json!(["note"]));
        assert!(out["params"].get("note").is_none());
    }

    /// PHP's serialize() of what the vendor's sample builds: `array('meta' => array('b' => 1,
    /// 'a' => 2), 'k' => 1)` then `$p['k'] = 2` keeps `k` second with the value 2.
    #[test]
    fn weclassroom_serializes_objects_in_order_and_repeated_keys_as_php() {
        let config = config_with(
            Vendor::Weclassroom,
            "app",
            "0123456789abcdef0123456789abcdef",
        );
        let out = sign(
            &config,
            Vendor::Weclassroom,
            "a",
            &params(&[r#"meta:={"b":1,"a":2}"#, "k=1", "k=2"]),
            Some([7; 16]),
            SecretDisplay::Masked,
        )
        .expect("signs");
        assert_eq!(
            out["serialized"],
            r#"a:2:{s:4:"meta";a:2:{s:1:"b";i:1;s:1:"a";i:2;}s:1:"k";i:2;}"#
        );
    }

    /// A key given twice: the last value, as PHP and JS take it.
    #[test]
    fn plaso_takes_the_last_of_a_repeated_key() {
        let config = config_with(Vendor::Plaso, "app", "secret");
        let out = sign(
            &config,
            Vendor::Plaso,
            "a",
            &params(&["k=1", "k=2", "validBegin=1", "validTime=300"]),
            None,
            SecretDisplay::Masked,
        )
        .expect("signs");
        assert_eq!(out["params"]["k"], "2");
        assert_eq!(out["canonical"], "appId=app&k=2&validBegin=1&validTime=300");
    }

    #[test]
    fn baijiayun_sign_prints_the_known_answer() {
        let mut config = Config::default();
        config.accounts.insert(
            "b".into(),
            VendorAccount::new(
                Vendor::Baijiayun,
                "12345",
                creel_core::Secret::new("8jewu3j93jjewi3jwj90093jkyu"),
            ),
        );
        let params: Vec<Param> = ["video_id=456", "timestamp=1596096142"]
            .iter()
            .map(|s| s.parse().expect("param"))
            .collect();
        let out = sign(
            &config,
            Vendor::Baijiayun,
            "b",
            &params,
            None,
            SecretDisplay::Masked,
        )
        .expect("signs");
        assert_eq!(out["sign"], "95b1618b51f5e38f1889f1bee9d54c00");
        assert_eq!(
            out["canonical"],
            "partner_id=12345&timestamp=1596096142&video_id=456&partner_key=***"
        );
    }
}
