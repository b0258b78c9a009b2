//! Counting the parts the SDK sends again: an interceptor on each UploadPart that, on every
//! attempt after the first, emits a `part retried` event (in the transfer's span, so the
//! metrics can count `creel.transfer.parts_retried` by storage profile).

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;

/// The interceptor; one per UploadPart call.
#[derive(Debug)]
pub(crate) struct PartRetries {
    /// The part number, for the event.
    pub(crate) part: i32,
}

impl Intercept for PartRetries {
    fn name(&self) -> &'static str {
        "PartRetries"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg
            .load::<RequestAttempts>()
            .map_or(1, RequestAttempts::attempts);
        if attempt > 1 {
            tracing::info!(
                name: "part retried",
                part = self.part,
                attempt,
                "UploadPart sent again"
            );
        }
        Ok(())
    }
}
