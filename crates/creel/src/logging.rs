//! Log output of the `creel` command (installed by [`crate::telemetry`]): to stderr, coloured
//! only on a terminal (a file or pipe gets plain text), and passed through [`creel_core::redact::redact_urls`] line by line, so no
//! URL query value (a presigned signature, a vendor token) reaches a log from any crate,
//! creel's own or a dependency's, whatever the level.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

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
