//! Black-box tests: the bridge on a random port against the emulators over real HTTP.

mod agent;
mod cli;
mod client_auth;
mod contract;
mod conversation;
mod conversation_crash;
mod crash;
mod create_ticket;
mod exactly_once;
mod helpers;
mod http_basics;
mod im_client;
mod limits;
mod logs;
mod openapi;
mod operations;
mod postgres;
mod regressions;
mod replicas;
mod retention;
mod schemathesis;
mod shutdown;
mod upstream_failures;
mod usersig_interop;
mod webhooks;
mod zendesk_client;
