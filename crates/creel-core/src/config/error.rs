//! Configuration errors: every one names the field at fault by its dotted path (e.g.
//! `api.tokens[1].token`) and never the value found, which may be a secret.

/// A configuration that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value the field does not allow: zero where it must be positive, out of range,
    /// malformed, too short.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field's dotted path.
        field: String,
        /// What the field allows.
        reason: String,
    },
    /// A required field is empty.
    #[error("{field}: required")]
    Missing {
        /// The field's dotted path.
        field: String,
    },
    /// The field names something (an account, a storage profile, a queue) that is not
    /// configured.
    #[error("{field}: no {what} named {name:?} is configured")]
    NotConfigured {
        /// The field's dotted path.
        field: String,
        /// What it names, e.g. `storage profile`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// The value is given to another entry already (a token name, a token).
    #[error("{field}: {what} is used by another entry")]
    Duplicate {
        /// The field's dotted path.
        field: String,
        /// What is repeated (never the value itself).
        what: &'static str,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] value.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The field at fault.
    #[must_use]
    pub fn field(&self) -> &str {
        match self {
            Self::Invalid { field, .. }
            | Self::Missing { field }
            | Self::NotConfigured { field, .. }
            | Self::Duplicate { field, .. } => field,
        }
    }

    /// The same error with its field under `section` (`accounts.bjy` + `quota.requests` →
    /// `accounts.bjy.quota.requests`).
    #[must_use]
    pub fn within(mut self, section: &str) -> Self {
        let field = match &mut self {
            Self::Invalid { field, .. }
            | Self::Missing { field }
            | Self::NotConfigured { field, .. }
            | Self::Duplicate { field, .. } => field,
        };
        *field = format!("{section}.{field}");
        self
    }
}

/// `Err` naming the first of `fields` (of config section `section`, empty for a field the
/// caller places with [`ConfigError::within`]) that is zero.
pub(crate) fn all_positive(section: &str, fields: &[(&str, u64)]) -> Result<(), ConfigError> {
    match fields.iter().find(|(_, v)| *v == 0) {
        Some((name, _)) if section.is_empty() => {
            Err(ConfigError::invalid(*name, "must be positive"))
        }
        Some((name, _)) => Err(ConfigError::invalid(
            format!("{section}.{name}"),
            "must be positive",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_its_field_under_its_section() {
        let e = ConfigError::Missing {
            field: "bucket".into(),
        }
        .within("storage.archive");
        assert_eq!(e.field(), "storage.archive.bucket");
        assert_eq!(e.to_string(), "storage.archive.bucket: required");
    }
}
