//! Who an agent in the sidebar app is: the JWT Zendesk's proxy signs for the app
//! ([`jwt`]), and the short-lived session token the bridge gives in exchange ([`session`]).
//!
//! Trust boundary: the JWT's claims are composed by the app in the agent's browser, and Zendesk's
//! proxy signs whatever the app asks with the installation's secure `shared_secret`. A valid
//! signature therefore proves "an agent of this Zendesk account, through our app installation",
//! not *which* agent: any agent of the account can present any `agent_id`.

pub mod jwt;
pub mod session;

/// Why an agent's credentials were refused. Messages never repeat a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentAuthError {
    #[error("missing `Authorization: Bearer <token>` header")]
    Missing,
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(&'static str),
    #[error("the JWT must be signed with HS256, not {0}")]
    Algorithm(String),
    #[error("the JWT signature does not match (wrong shared secret, or the token was altered)")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the JWT has no `exp` claim")]
    NoExpiry,
    #[error("the JWT expires more than an hour from now")]
    TooLong,
    #[error("the JWT was issued in the future (`iat`)")]
    IssuedInFuture,
    #[error("the JWT claim {0} is missing or invalid")]
    Claim(&'static str),
    #[error("the session token is not valid")]
    BadSession,
    #[error("this session is for another ticket")]
    OtherTicket,
    #[error("agent sessions are refused: ZAF_SHARED_SECRET is not set")]
    NotConfigured,
}
