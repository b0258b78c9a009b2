//! Storage profiles (`storage`): a directory, an S3 bucket or an Aliyun OSS bucket.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;
use super::error::ConfigError;

/// Where a job's output is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum StorageProfile {
    /// A local directory (development, the demo): objects are files, written atomically.
    Dir {
        /// The directory.
        path: PathBuf,
    },
    /// An S3 bucket, or an S3-compatible store (MinIO, Ceph…) with `endpoint` and
    /// `path_style`.
    S3(S3Profile),
    /// An Aliyun OSS bucket, through OSS's S3-compatible endpoint.
    Oss(OssProfile),
}

/// An Aliyun OSS storage profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OssProfile {
    /// The bucket.
    pub bucket: String,
    /// The OSS region without the `oss-` prefix, e.g. `cn-hangzhou`.
    pub region: String,
    /// Use the internal endpoint (`s3.oss-<region>-internal.aliyuncs.com`, free traffic from
    /// ECS in the same region).
    #[serde(default)]
    pub internal: bool,
    /// A custom domain bound to the bucket's region, instead of the standard endpoint.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Prepended to every object key.
    #[serde(default)]
    pub prefix: String,
    /// AccessKey ID (RAM user).
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: Secret,
    /// Part size in MiB (5 to 5120); default `max(16 MiB, size / 9000)`.
    #[serde(default)]
    pub part_size_mib: Option<u64>,
    /// Parts uploaded at once per object.
    #[serde(default = "default_parts_in_flight")]
    pub parts_in_flight: usize,
}

/// An S3 storage profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Profile {
    /// The bucket.
    pub bucket: String,
    /// The region, e.g. `us-east-1`.
    pub region: String,
    /// Prepended to every object key, e.g. `lessons/`.
    #[serde(default)]
    pub prefix: String,
    /// An endpoint override for S3-compatible stores.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible stores need.
    #[serde(default)]
    pub path_style: bool,
    /// Access key id; without it the default AWS credential chain is used.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key (with `access_key_id`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Part size in MiB; default `max(16 MiB, size / 9000)`.
    #[serde(default)]
    pub part_size_mib: Option<u64>,
    /// Parts uploaded at once per object.
    #[serde(default = "default_parts_in_flight")]
    pub parts_in_flight: usize,
    /// How each part (and a single PUT) is protected in transit.
    #[serde(default)]
    pub part_checksum: PartChecksum,
}

/// The per-part integrity check an S3 sink sends with every part and single PUT. Either way the
/// whole-file MD5 is computed once while streaming, for the job's result and the vendor's MD5.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartChecksum {
    /// `x-amz-checksum-crc32c` (S3's flexible checksums): hardware-accelerated, so a part costs
    /// next to nothing to protect. The default.
    #[default]
    Crc32c,
    /// `Content-MD5`: for stores without flexible checksums (Aliyun OSS uses it). A second MD5
    /// pass over every byte.
    Md5,
}

fn default_parts_in_flight() -> usize {
    4
}

impl S3Profile {
    /// Checks what serde cannot: S3 parts are 5 MiB to 5 GiB (all but the last); at least one
    /// part in flight.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(mib) = self.part_size_mib
            && !(5..=5120).contains(&mib)
        {
            return Err(ConfigError::invalid(
                "part_size_mib",
                format!("must be 5 to 5120 (S3's part limits), not {mib}"),
            ));
        }
        if self.parts_in_flight == 0 {
            return Err(ConfigError::invalid(
                "parts_in_flight",
                "must be at least 1",
            ));
        }
        for (field, value) in [("bucket", &self.bucket), ("region", &self.region)] {
            if value.is_empty() {
                return Err(ConfigError::Missing {
                    field: field.to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl OssProfile {
    /// OSS through its S3-compatible endpoint, as an S3 profile: `s3.oss-<region>[-internal]
    /// .aliyuncs.com` (or the custom domain), virtual-hosted addressing, signing region
    /// `oss-<region>`. Every OSS specific of creel is here and in creel-storage's `oss` module.
    #[must_use]
    pub fn as_s3(&self) -> S3Profile {
        let internal = if self.internal { "-internal" } else { "" };
        S3Profile {
            bucket: self.bucket.clone(),
            region: format!("oss-{}", self.region),
            prefix: self.prefix.clone(),
            endpoint: Some(self.endpoint.clone().unwrap_or_else(|| {
                format!("https://s3.oss-{}{internal}.aliyuncs.com", self.region)
            })),
            path_style: false,
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.access_key_secret.clone()),
            part_size_mib: self.part_size_mib,
            parts_in_flight: self.parts_in_flight,
            // OSS's S3-compatible API documents Content-MD5; its own CRC-64 is not an S3 header.
            part_checksum: PartChecksum::Md5,
        }
    }
}

#[cfg(test)]
mod profile_tests {
    use super::*;

    #[test]
    fn s3_profiles_parse_and_refuse_unknown_fields() {
        let p: StorageProfile = toml::from_str(
            "type = \"s3\"\nbucket = \"b\"\nregion = \"us-east-1\"\nendpoint = \"http://127.0.0.1:9000\"\npath_style = true\n",
        )
        .expect("s3 profile");
        assert!(
            matches!(p, StorageProfile::S3(ref s) if s.bucket == "b" && s.parts_in_flight == 4)
        );
        let err = toml::from_str::<StorageProfile>(
            "type = \"s3\"\nbucket = \"b\"\nregion = \"r\"\nbukket = 1\n",
        )
        .expect_err("typo");
        assert!(err.to_string().contains("bukket"), "{err}");
    }
}
