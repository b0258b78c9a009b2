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

/// One `key=value` argument; `key:=json` gives the value as JSON (numbers, arrays, objects).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The key.
    pub key: String,
    /// The value.
    pub value: ParamValue,
}

/// How a parameter's value was written.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// `k=v`: text. WeClassroom sends it as a PHP int when it is a canonical integer (ids go
    /// as ints), else as a string.
    Text(String),
    /// `k:=json`: exactly this JSON value (a JSON string stays a string).
    Json(Value),
}

impl ParamValue {
    /// The value as JSON (text becomes a JSON string).
    #[must_use]
    pub fn json(&self) -> Value {
        match self {
            Self::Text(t) => Value::String(t.clone()),
            Self::Json(v) => v.clone(),
        }
    }

    /// The value as the text Baijiayun signs and sends.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Json(v) => v.as_str().map_or_else(|| v.to_string(), str::to_owned),
        }
    }

    /// The value as a PHP value for WeClassroom.
    pub fn php(&self) -> anyhow::Result<PhpValue> {
        match self {
            Self::Text(t) => Ok(match t.parse::<i64>() {
                Ok(i) if i.to_string() == *t => PhpValue::Int(i),
                _ => PhpValue::Str(t.clone()),
            }),
            Self::Json(v) => php_value(v),
        }
    }
}

impl std::str::FromStr for Param {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((k, v)) = s.split_once(":=") {
            let value = serde_json::from_str(v).map_err(|e| format!("{k}:= needs JSON: {e}"))?;
            return Ok(Self {
                key: k.to_owned(),
                value: ParamValue::Json(value),
            });
        }
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("expected key=value or key:=json, got {s:?}"))?;
        Ok(Self {
            key: k.to_owned(),
            value: ParamValue::Text(v.to_owned()),
        })
    }
}

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

/// JSON mapped onto PHP: strings stay strings, integers are ints, arrays and objects arrays.
fn php_value(v: &Value) -> anyhow::Result<PhpValue> {
    Ok(match v {
        Value::Null => PhpValue::Null,
        Value::Bool(b) => PhpValue::Bool(*b),
        Value::Number(n) => PhpValue::Int(n.as_i64().context("PHP params need integers")?),
        Value::String(s) => PhpValue::Str(s.clone()),
        Value::Array(items) => {
            PhpValue::list(items.iter().map(php_value).collect::<anyhow::Result<_>>()?)
        }
        Value::Object(map) => PhpValue::Array(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), php_value(v)?)))
                .collect::<anyhow::Result<_>>()?,
        ),
    })
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
    let secret = a.secret.expose();
    let mask = |s: String| match display {
        SecretDisplay::Shown => s,
        SecretDisplay::Masked => s.replace(secret, "***"),
    };
    Ok(match vendor {
        Vendor::Baijiayun => {
            let mut p: BTreeMap<String, String> = params
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
            })
        }
        Vendor::Plaso => {
            let mut p: BTreeMap<String, Value> = params
                .iter()
                .map(|p| (p.key.clone(), p.value.json()))
                .collect();
            p.entry("appId".into()).or_insert_with(|| json!(a.id));
            p.entry("validBegin".into())
                .or_insert_with(|| json!(now_unix().saturating_sub(a.clock_skew_secs)));
            p.entry("validTime".into())
                .or_insert_with(|| json!(a.valid_time_secs));
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
        &config.redis.url,
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
    })?;
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

    #[test]
    fn params_parse_as_text_or_json() {
        let p: Param = "room_id=123".parse().expect("k=v");
        assert_eq!(p.value, ParamValue::Text("123".into()));
        assert_eq!(p.value.php().expect("php"), PhpValue::Int(123));
        let p: Param = "lesson_id:=[1,2]".parse().expect("k:=json");
        assert_eq!(p.value, ParamValue::Json(json!([1, 2])));
        let p: Param = r#"lessonId:="7""#.parse().expect("k:=json");
        assert_eq!(p.value.php().expect("php"), PhpValue::Str("7".into()));
        assert!("nothing".parse::<Param>().is_err());
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
