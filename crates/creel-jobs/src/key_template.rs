//! Object-key templates: the one expander of `{job_id}`, `{parent}`, `{index}`, `{kind}`,
//! `{date}`, `{account}` and `{lesson}`, used by a download (its own key), a classroom job (the keys of its
//! deliveries) and the validator (which renders a sample to check a template before it is
//! accepted). Placeholders without a value are left as they are, for a later stage to fill.

/// A placeholder and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder<'a> {
    /// `{job_id}`: the job writing the object.
    JobId(&'a str),
    /// `{parent}`: the classroom job whose output is delivered.
    Parent(&'a str),
    /// `{index}`: the output's number, from 1.
    Index(usize),
    /// `{kind}`: the job's kind, with `.` written as `-` (`baijiayun-crop`).
    Kind(&'a str),
    /// `{date}`: a UTC date, `YYYY-MM-DD`.
    Date(&'a str),
    /// `{account}`: the vendor account, `none` without one.
    Account(Option<&'a str>),
    /// `{lesson}`: a backfilled lesson's vendor id (`archive.scan`).
    Lesson(&'a str),
}

impl Placeholder<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::JobId(_) => "job_id",
            Self::Parent(_) => "parent",
            Self::Index(_) => "index",
            Self::Kind(_) => "kind",
            Self::Date(_) => "date",
            Self::Account(_) => "account",
            Self::Lesson(_) => "lesson",
        }
    }

    fn push_value(&self, out: &mut String) {
        match self {
            Self::JobId(v) | Self::Parent(v) | Self::Date(v) | Self::Lesson(v) => out.push_str(v),
            Self::Index(i) => out.push_str(&i.to_string()),
            Self::Kind(k) => out.push_str(&k.replace('.', "-")),
            Self::Account(a) => out.push_str(a.unwrap_or("none")),
        }
    }
}

/// Expands the placeholders of `template` that `values` give, in one pass (a value is never
/// expanded again).
#[must_use]
pub fn expand(template: &str, values: &[Placeholder<'_>]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let named = after.find('}').and_then(|close| {
            let name = &after[..close];
            values.iter().find(|v| v.name() == name).map(|v| (v, close))
        });
        match named {
            Some((value, close)) => {
                value.push_value(&mut out);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Today's UTC date as `{date}` takes it.
#[must_use]
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_placeholders_expand_and_others_stay_for_later() {
        let key = expand(
            "{account}/{kind}/{date}/{parent}-{index}.mp4",
            &[
                Placeholder::Parent("01P"),
                Placeholder::Index(3),
                Placeholder::Kind("baijiayun.crop"),
            ],
        );
        assert_eq!(key, "{account}/baijiayun-crop/{date}/01P-3.mp4");
        let key = expand(
            &key,
            &[
                Placeholder::Date("2026-12-06"),
                Placeholder::Account(None),
                Placeholder::JobId("01C"),
            ],
        );
        assert_eq!(key, "none/baijiayun-crop/2026-12-06/01P-3.mp4");
    }

    #[test]
    fn unknown_and_unclosed_braces_are_kept() {
        assert_eq!(
            expand("{x}/{job_id}/{", &[Placeholder::JobId("j")]),
            "{x}/j/{"
        );
        assert_eq!(expand("a{{job_id}}", &[Placeholder::JobId("j")]), "a{j}");
    }
}
