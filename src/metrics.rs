//! The bridge's Prometheus metrics (`GET /metrics`), in one registry per service instance.
//!
//! The registry lives in the application's state, not in a global: the tests run many bridges
//! in one process, and each must count only its own work. Series are labelled with bounded
//! values only (route templates, endpoint templates, job kinds, fixed outcomes), never with
//! ids. The job queue's gauges are read from the store at each scrape, so every replica
//! reports the whole queue.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

use crate::store::{JobQueueStats, Store};

/// Upstream call latency buckets, in seconds.
const CALL_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Case opened → agent joined buckets, in seconds (10 s to a day).
const JOIN_BUCKETS: [f64; 12] = [
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];

/// Which upstream a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Zendesk,
    Im,
}

impl Service {
    fn as_str(self) -> &'static str {
        match self {
            Service::Zendesk => "zendesk",
            Service::Im => "im",
        }
    }
}

/// What the bridge did with a Zendesk webhook delivery or an IM callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// Verified and recorded.
    Accepted,
    /// Verified, recorded before (a redelivery).
    Duplicate,
    /// Verified, but nothing for the bridge to do (other event types, other groups).
    Ignored,
    /// Unsigned, forged, stale, or unreadable: nothing recorded.
    Refused,
    /// The bridge's database failed.
    Error,
}

impl Inbound {
    fn as_str(self) -> &'static str {
        match self {
            Inbound::Accepted => "accepted",
            Inbound::Duplicate => "duplicate",
            Inbound::Ignored => "ignored",
            Inbound::Refused => "refused",
            Inbound::Error => "error",
        }
    }
}

/// Which way a message crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A chat line that became (part of) a public comment.
    ChatToTicket,
    /// A public comment posted in the group.
    TicketToChat,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: &'static str,
    endpoint: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    service: &'static str,
    endpoint: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InboundLabels {
    source: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    calls: Family<CallLabels, Counter>,
    call_seconds: Family<EndpointLabels, Histogram>,
    queued: Family<KindLabels, Gauge>,
    oldest_due: Family<KindLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    failed: Family<KindLabels, Gauge>,
    failed_total: Family<KindLabels, Counter>,
    inbound: Family<InboundLabels, Counter>,
    refused: Family<LimitLabels, Counter>,
    mirrored: Family<DirectionLabels, Counter>,
    agent_join: Histogram,
}

/// The metrics of one bridge; cheap to clone (one shared registry).
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("ticket_bridge");
        let call_seconds =
            Family::<EndpointLabels, Histogram>::new_with_constructor(call_histogram as fn() -> _);
        Self(Arc::new(Inner {
            requests: registered(
                &mut r,
                "http_requests",
                "HTTP requests answered, by method, route template and status",
                Family::default(),
            ),
            calls: registered(
                &mut r,
                "upstream_calls",
                "HTTP requests sent to Zendesk and IM (each retry counts), by service, endpoint and outcome",
                Family::default(),
            ),
            call_seconds: registered(
                &mut r,
                "upstream_call_duration_seconds",
                "Time from sending an upstream request to having its answer, by service and endpoint",
                call_seconds,
            ),
            queued: registered(
                &mut r,
                "jobs_queued",
                "Jobs waiting or running, by kind (read from the database at each scrape)",
                Family::default(),
            ),
            oldest_due: registered(
                &mut r,
                "jobs_oldest_due_seconds",
                "How long the job due first has been due, by kind (0 when none is due)",
                Family::default(),
            ),
            failed: registered(
                &mut r,
                "jobs_failed",
                "Jobs that failed for good and wait for an operator, by kind (from the database)",
                Family::default(),
            ),
            failed_total: registered(
                &mut r,
                "jobs_failed_for_good",
                "Jobs this process gave up on (failed for good), by kind",
                Family::default(),
            ),
            inbound: registered(
                &mut r,
                "inbound",
                "Zendesk webhook deliveries and IM callbacks, by source and what was done with them",
                Family::default(),
            ),
            refused: registered(
                &mut r,
                "limit_refusals",
                "Requests and connections refused by an abuse limit (see README, Limits), by limit",
                Family::default(),
            ),
            mirrored: registered(
                &mut r,
                "messages_mirrored",
                "Messages that crossed: chat lines put on tickets, public comments posted in groups",
                Family::default(),
            ),
            agent_join: registered(
                &mut r,
                "agent_join_seconds",
                "Time from a ticket's case being opened to the first agent joining its group",
                Histogram::new(JOIN_BUCKETS),
            ),
            registry: r,
        }))
    }

    /// An HTTP request answered; `route` is the matched route template (or `unmatched`).
    pub fn request(&self, method: &str, route: &str, status: u16) {
        self.0
            .requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// One HTTP request to an upstream: its endpoint (a template, without ids), how it ended
    /// (`ok` or the error's class) and how long it took.
    pub fn upstream_call(
        &self,
        service: Service,
        endpoint: &str,
        outcome: &'static str,
        took: Duration,
    ) {
        let service = service.as_str();
        self.0
            .calls
            .get_or_create(&CallLabels {
                service,
                endpoint: endpoint.to_owned(),
                outcome,
            })
            .inc();
        self.0
            .call_seconds
            .get_or_create(&EndpointLabels {
                service,
                endpoint: endpoint.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    /// A job of `kind` failed for good in this process.
    pub fn job_failed_for_good(&self, kind: &str) {
        self.0
            .failed_total
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub fn inbound(&self, source: &'static str, result: Inbound) {
        self.0
            .inbound
            .get_or_create(&InboundLabels {
                source,
                result: result.as_str(),
            })
            .inc();
    }

    /// A request or connection refused by an abuse limit.
    pub fn refused(&self, limit: crate::limits::Limit) {
        self.0
            .refused
            .get_or_create(&LimitLabels {
                limit: limit.as_str(),
            })
            .inc();
    }

    pub fn mirrored(&self, direction: Direction, count: u64) {
        let direction = match direction {
            Direction::ChatToTicket => "chat_to_ticket",
            Direction::TicketToChat => "ticket_to_chat",
        };
        self.0
            .mirrored
            .get_or_create(&DirectionLabels { direction })
            .inc_by(count);
    }

    /// The first agent joined a ticket's group `waited` after its case was opened.
    pub fn agent_joined(&self, waited: Duration) {
        self.0.agent_join.observe(waited.as_secs_f64());
    }

    /// Reads the job queue from `store` and renders every metric in the OpenMetrics text
    /// format. When the database fails the queue's gauges keep their last values (the error
    /// is logged; `/readyz` reports it).
    pub async fn render(&self, store: &Store) -> String {
        match store.job_queue_stats(crate::store::now_ms()).await {
            Ok(stats) => self.set_queue(&stats),
            Err(e) => tracing::warn!(error = %e, "metrics: could not read the job queue"),
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }

    fn set_queue(&self, stats: &[JobQueueStats]) {
        // Every known kind is reported, so a drained queue reads 0 rather than vanishing
        // (and a kind this build does not know, should the database hold one, too).
        let others = stats
            .iter()
            .map(|s| s.kind.as_str())
            .filter(|k| !crate::jobs::KINDS.contains(k));
        for kind in crate::jobs::KINDS.into_iter().chain(others) {
            let labels = KindLabels {
                kind: kind.to_owned(),
            };
            let s = stats.iter().find(|s| s.kind == kind);
            self.0
                .queued
                .get_or_create(&labels)
                .set(s.map_or(0, |s| s.queued));
            self.0
                .failed
                .get_or_create(&labels)
                .set(s.map_or(0, |s| s.failed));
            self.0
                .oldest_due
                .get_or_create(&labels)
                .set(s.map_or(0.0, |s| s.oldest_due_ms as f64 / 1000.0));
        }
    }
}

/// Registers `metric` under `name` and returns it (a handle to the registered one).
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

fn call_histogram() -> Histogram {
    Histogram::new(CALL_BUCKETS)
}

/// The OpenMetrics content type `render` produces.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
