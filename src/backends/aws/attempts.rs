//! What the SDK's retry loop does, which the backend's answers cannot show: an SDK interceptor
//! ([`AttemptCounter`]) counts operations, HTTP attempts (retries are attempts beyond the first)
//! and attempts AWS throttled (`ThrottlingException` / HTTP 429), in process-wide atomics that
//! the metrics endpoint reads with [`write`].

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use prom_text::{Counter, Exposition, Kind};

/// SDK operations started (each may take several attempts).
static OPERATIONS: Counter = Counter::new();
/// HTTP attempts made.
static ATTEMPTS: Counter = Counter::new();
/// Attempts answered with throttling.
static THROTTLED: Counter = Counter::new();

/// Counts the SDK's operations, attempts and throttled attempts (installed on every client).
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptCounter;

impl Intercept for AttemptCounter {
    fn name(&self) -> &'static str {
        "secrets-broker attempt counter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        OPERATIONS.inc();
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        ATTEMPTS.inc();
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(response) = context.response() {
            let code = response.headers().get("x-amzn-errortype").unwrap_or("");
            if response.status().as_u16() == 429 || code.starts_with("ThrottlingException") {
                THROTTLED.inc();
            }
        }
        Ok(())
    }
}

/// `(operations, attempts, throttled attempts)` so far in this process.
pub fn counts() -> (u64, u64, u64) {
    (OPERATIONS.get(), ATTEMPTS.get(), THROTTLED.get())
}

/// Writes the AWS SDK's attempt, retry and throttle counters.
pub fn write(out: &mut Exposition) {
    let (operations, attempts, throttled) = counts();
    out.family(
        "secrets_broker_aws_attempts_total",
        "HTTP attempts the AWS SDK made (first tries and retries).",
        Kind::Counter,
    );
    out.sample("secrets_broker_aws_attempts_total", &[], attempts);
    out.family(
        "secrets_broker_aws_retries_total",
        "Attempts the AWS SDK made beyond an operation's first.",
        Kind::Counter,
    );
    out.sample(
        "secrets_broker_aws_retries_total",
        &[],
        attempts.saturating_sub(operations),
    );
    out.family(
        "secrets_broker_aws_throttled_attempts_total",
        "Attempts AWS answered with throttling (ThrottlingException or HTTP 429).",
        Kind::Counter,
    );
    out.sample(
        "secrets_broker_aws_throttled_attempts_total",
        &[],
        throttled,
    );
}
