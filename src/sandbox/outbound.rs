//! Requests the emulators make on their own (Zendesk webhook invocations, IM callbacks): one
//! client setup and one way of noting a request that got no answer.

use std::time::Duration;

/// A client that gives up after `timeout` and follows no redirects.
// UNCONFIRMED (both services): redirects are not followed, the stricter choice; a 3xx is an
// answer like any other status.
pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "emulator client without a timeout");
            reqwest::Client::new()
        })
}

/// The response, or `None` for no answer (timeout, refused, reset). That is logged by its kind
/// only: the error's text carries the URL, and with it any credential in the query.
pub(crate) fn answered(
    sent: Result<reqwest::Response, reqwest::Error>,
    what: &'static str,
) -> Option<reqwest::Response> {
    match sent {
        Ok(resp) => Some(resp),
        Err(e) => {
            tracing::debug!(
                what,
                timeout = e.is_timeout(),
                connect = e.is_connect(),
                "emulator request not answered"
            );
            None
        }
    }
}
