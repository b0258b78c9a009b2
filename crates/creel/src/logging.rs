//! Log output of the `creel` command: to stderr, coloured only on a terminal (a file or pipe
//! gets plain text), and passed through [`creel_core::redact::redact_urls`] line by line, so no
//! URL query value (a presigned signature, a vendor token) reaches a log from any crate,
//! creel's own or a dependency's, whatever the level.

use std::io::{IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber with `filter` (an `EnvFilter` directive string).
pub fn init(filter: tracing_subscriber::EnvFilter) {
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(RedactingStderr)
        .init();
}

/// Makes writers that redact each formatted event before it reaches stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = Redacting;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting
    }
}

/// One event's writer: the formatter hands it the whole event in one write.
#[derive(Debug)]
pub struct Redacting;

impl Write for Redacting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = creel_core::redact::redact_urls(&text);
        std::io::stderr().write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
