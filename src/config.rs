//! Settings, read from the environment (and `.env`), validated at start.
//!
//! Every missing or invalid setting is collected and reported in one message, so an operator
//! fixes them all in one go. The reference Node backend's variable names (`SUB_DOMAIN`, `EMAIL`,
//! `TOKEN`, `YOUR_SDKAPPID`, `YOUR_SECRET`, `ADMIN_USERID`) are accepted as fallbacks.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::ids::ImUserId;
use crate::im::region::Region;
use crate::retention::RetentionPolicy;
use crate::secret::Secret;
use crate::zendesk::ZendeskAuth;

/// One or more settings are missing or invalid; `Display` lists them all.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem{}; see .env.example):",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// How callers of `/createticket` prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: UserSig <sig>`, verified locally for the request's `userId`.
    UserSig,
    /// No check (development only; logged as a warning at start).
    None,
}

/// How the greeting is posted to a new group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GreetingVia {
    /// `send_group_msg` from the admin account (works for every IM customer).
    Message,
    /// `send_group_system_notification` (closed to new IM customers; kept for old apps).
    SystemNotification,
}

/// Which browser origins may call the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers: browsers may not call the bridge cross-origin.
    None,
    Any,
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct ZendeskConfig {
    pub base_url: String,
    pub auth: ZendeskAuth,
    pub timeout: Duration,
    /// The plan's API requests per minute; the bridge paces itself to it.
    pub rate_limit_rpm: u32,
}

#[derive(Debug, Clone)]
pub struct ImConfig {
    pub sdkappid: u64,
    pub secret_key: Secret,
    pub admin_userid: ImUserId,
    pub base_url: String,
    pub timeout: Duration,
    /// Calls per second per REST command the bridge allows itself.
    pub rate_limit_per_sec: u32,
}

/// Everything the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// May carry a PostgreSQL password: kept as a secret.
    pub database_url: Secret,
    pub database: DatabaseConfig,
    pub zendesk: ZendeskConfig,
    pub im: ImConfig,
    pub client_auth: ClientAuth,
    pub cors_allowed_origins: CorsOrigins,
    pub greeting_text: String,
    pub greeting_via: GreetingVia,
    /// How long `/createticket` works on a case before answering 202/503 and finishing it in
    /// the background.
    pub request_deadline: Duration,
    /// Background workers running jobs.
    pub job_workers: usize,
    /// How long a job claim lasts without a heartbeat (how soon a crashed process's jobs resume).
    pub job_lease: Duration,
    /// How long running jobs may go on after a stop is asked for.
    pub shutdown_grace: Duration,
    pub assignment: AssignmentConfig,
    pub conversation: ConversationConfig,
    /// The secure `shared_secret` of the sidebar app's installation; without it agent sessions
    /// are refused.
    pub zaf_shared_secret: Option<Secret>,
    /// How long an agent's session token lasts.
    pub agent_session: Duration,
    /// On SIGTERM, how long the process keeps serving while `/readyz` says it is draining,
    /// before it stops accepting (time for a load balancer to take it out).
    pub shutdown_drain: Duration,
    /// When set, `GET /metrics` asks for `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    pub retention: RetentionPolicy,
    pub limits: LimitsConfig,
}

/// How the bridge uses its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Connections in the PostgreSQL pool (SQLite runs on one connection, in the process).
    pub max_connections: u32,
    /// The longest a statement may run on PostgreSQL (`statement_timeout`), or wait for the
    /// write lock on SQLite (`busy_timeout`).
    pub statement_timeout: Duration,
    /// How often idle job workers and agents' event streams look at the database when nothing
    /// woke them: the fallback for work recorded by another process (PostgreSQL replicas are
    /// woken at once by `NOTIFY`; processes sharing a SQLite file only by this).
    pub poll_interval: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            statement_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// What one caller may make the bridge do (429 or 503 beyond). `None` = no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// New cases one user may open in any hour (retries of a known `Idempotency-Key` are free).
    pub cases_per_user_per_hour: Option<u32>,
    /// Tickets one user may have open (not solved or closed) before a new case is refused.
    pub open_tickets_per_user: Option<u32>,
    /// Requests per second one client IP may make on the public routes (a second's worth at
    /// once).
    pub requests_per_ip_per_sec: Option<u32>,
    /// Proxies whose `X-Forwarded-For` names the client; empty = the peer address is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// How long a client has to send a request's headers (and how long an idle connection is
    /// kept).
    pub header_timeout: Duration,
    /// How long a client has to send a request's body, from its headers on.
    pub body_timeout: Duration,
    /// Connections served at once; beyond it a new connection gets a 503 and is closed.
    pub max_connections: usize,
    /// Event streams one agent may hold open at once.
    pub streams_per_agent: Option<u32>,
}

/// An IP address range: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `addr` or `addr/prefix`.
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client may reach a dual-stack listener as an IPv4-mapped IPv6 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n).into(), u32::from(i).into(), 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            _ => return false,
        };
        let mask = u128::MAX
            .checked_shl(bits - u32::from(self.prefix))
            .unwrap_or(0)
            & (u128::MAX >> (128 - bits));
        net & mask == ip & mask
    }
}

/// How the conversation crosses between the IM group and the ticket.
#[derive(Debug, Clone)]
pub struct ConversationConfig {
    /// Verifies IM's callbacks (`Sign`); without it `/callbacks/im` refuses everything.
    pub callback_token: Option<Secret>,
    /// Chat lines that arrive within this window of the first become one comment.
    pub batch_window: Duration,
    /// Comment updates the bridge allows itself per ticket in any 10 minutes (Zendesk: 30 per
    /// updater and ticket).
    pub ticket_updates_per_10min: u32,
    /// Ticket updates the bridge allows itself per minute across the account (Zendesk: about
    /// 100, agents' own updates included).
    pub account_updates_per_min: u32,
    /// Customer chat commands start with this (`/status`, `/close`, `/help`).
    pub command_prefix: String,
    /// How often active conversations are checked for messages whose callback or webhook was
    /// lost.
    pub sweep_interval: Duration,
}

/// What the bridge does when Zendesk says a ticket's assignee or status changed.
#[derive(Debug, Clone)]
pub struct AssignmentConfig {
    /// Signs Zendesk's webhook requests; without it `/webhooks/zendesk` refuses everything.
    pub webhook_secret: Option<Secret>,
    /// An agent's IM UserID is this prefix and their Zendesk user id.
    pub agent_prefix: String,
    pub remove_previous_assignee: bool,
    /// Mute the group (`MuteAllMember`) when the ticket is closed.
    pub mute_closed_groups: bool,
    /// `{agent}` is replaced with the agent's name.
    pub join_notice: String,
    pub solved_notice: String,
    pub closed_notice: String,
}

pub const DEFAULT_JOIN_NOTICE: &str = "{agent} from our support team has joined the conversation.";
pub const DEFAULT_SOLVED_NOTICE: &str =
    "This case has been marked as solved. Reply here if you still need help.";
pub const DEFAULT_CLOSED_NOTICE: &str =
    "This case is closed. Please open a new case if you need more help.";

pub const DEFAULT_GREETING: &str = "Thank you for contacting us. Your case #{ticket_id} has been \
     opened; an agent will join this chat shortly.";

impl Config {
    /// Reads the process environment; `.env` must already have been loaded (see `main`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `lookup`, so tests and the sandbox can supply their own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };

        let host = r.get(&["HOST"]).unwrap_or_else(|| "0.0.0.0".into());
        let port = r.parse::<u16>(&["PORT"], "a port number").unwrap_or(15000);
        let database_url = Secret::new(
            r.get(&["DATABASE_URL"])
                .unwrap_or_else(|| "sqlite://ticket-bridge.db".into()),
        );
        let db = database_url.expose();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            r.problem("DATABASE_URL must start with sqlite: or postgres://");
        }

        let database = r.database();
        let zendesk = r.zendesk();
        let im = r.im();

        let client_auth = match r.get(&["CLIENT_AUTH"]).as_deref() {
            None | Some("usersig") => ClientAuth::UserSig,
            Some("none") => ClientAuth::None,
            Some(other) => {
                r.problem(format!(
                    "CLIENT_AUTH must be `usersig` or `none`, got `{other}`"
                ));
                ClientAuth::UserSig
            }
        };
        let cors_allowed_origins = r.cors();
        let greeting_text = r
            .get(&["GREETING_TEXT"])
            .unwrap_or_else(|| DEFAULT_GREETING.into());
        let greeting_via = match r.get(&["GREETING_VIA"]).as_deref() {
            None | Some("message") => GreetingVia::Message,
            Some("system_notification") => GreetingVia::SystemNotification,
            Some(other) => {
                r.problem(format!(
                    "GREETING_VIA must be `message` or `system_notification`, got `{other}`"
                ));
                GreetingVia::Message
            }
        };

        let request_deadline = r.seconds("REQUEST_DEADLINE_SECS", 15);
        let job_workers = r.positive(&["JOB_WORKERS"], 4) as usize;
        let job_lease = r.seconds("JOB_LEASE_SECS", 60);
        let shutdown_grace = r.seconds("SHUTDOWN_GRACE_SECS", 10);
        let assignment = r.assignment();
        let conversation = r.conversation();
        let zaf_shared_secret = r.get(&["ZAF_SHARED_SECRET"]).map(Secret::new);
        let agent_session = r.seconds("AGENT_SESSION_SECS", 900);
        let shutdown_drain = Duration::from_secs(
            r.parse::<u32>(&["SHUTDOWN_DRAIN_SECS"], "a whole number of seconds")
                .unwrap_or(0)
                .into(),
        );
        let metrics_token = r.get(&["METRICS_TOKEN"]).map(Secret::new);
        let retention = r.retention();
        let limits = r.limits();

        match (zendesk, im) {
            (Some(zendesk), Some(im)) if r.problems.is_empty() => Ok(Config {
                host,
                port,
                database_url,
                database,
                zendesk,
                im,
                client_auth,
                cors_allowed_origins,
                greeting_text,
                greeting_via,
                request_deadline,
                job_workers,
                job_lease,
                shutdown_grace,
                assignment,
                conversation,
                zaf_shared_secret,
                agent_session,
                shutdown_drain,
                metrics_token,
                retention,
                limits,
            }),
            _ => Err(ConfigError {
                problems: r.problems,
            }),
        }
    }
}

/// Just the Zendesk settings (for `setup-zendesk`, which needs nothing else).
pub fn zendesk_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ZendeskConfig, ConfigError> {
    let mut r = Reader {
        lookup: &lookup,
        problems: Vec::new(),
    };
    match r.zendesk() {
        Some(z) if r.problems.is_empty() => Ok(z),
        _ => Err(ConfigError {
            problems: r.problems,
        }),
    }
}

/// Just the IM app's id and key (for the `usersig` command, which needs nothing else).
pub fn im_signing_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(u64, Secret), ConfigError> {
    let mut r = Reader {
        lookup: &lookup,
        problems: Vec::new(),
    };
    match r.im() {
        Some(im) => Ok((im.sdkappid, im.secret_key)),
        None => Err(ConfigError {
            problems: r.problems,
        }),
    }
}

struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    /// The first of `names` that is set to a non-blank value (later names are fallbacks).
    fn get(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .filter_map(|n| (self.lookup)(n))
            .map(|v| v.trim().to_owned())
            .find(|v| !v.is_empty())
    }

    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }

    fn require(&mut self, names: &[&str], what: &str) -> Option<String> {
        let v = self.get(names);
        if v.is_none() {
            self.problem(format!("{} is missing: {what}", alternatives(names)));
        }
        v
    }

    fn parse<T: std::str::FromStr>(&mut self, names: &[&str], what: &str) -> Option<T> {
        let raw = self.get(names)?;
        match raw.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                // The value is not repeated: it may be a secret put in the wrong variable.
                self.problem(format!("{} must be {what}", names[0]));
                None
            }
        }
    }

    fn seconds(&mut self, name: &str, default: u32) -> Duration {
        Duration::from_secs(self.positive(&[name], default).into())
    }

    /// A whole number of at least 1.
    fn positive(&mut self, names: &[&str], default: u32) -> u32 {
        match self.parse::<u32>(names, "a positive whole number") {
            Some(0) => {
                self.problem(format!("{} must be at least 1", names[0]));
                default
            }
            Some(n) => n,
            None => default,
        }
    }

    fn database(&mut self) -> DatabaseConfig {
        let default = DatabaseConfig::default();
        let max_connections = self.positive(&["DATABASE_MAX_CONNECTIONS"], default.max_connections);
        let statement_timeout = self.seconds(
            "DATABASE_STATEMENT_TIMEOUT_SECS",
            default.statement_timeout.as_secs() as u32,
        );
        let poll_interval = Duration::from_millis(
            self.positive(
                &["DATABASE_POLL_MS"],
                default.poll_interval.as_millis() as u32,
            )
            .into(),
        );
        DatabaseConfig {
            max_connections,
            statement_timeout,
            poll_interval,
        }
    }

    fn zendesk(&mut self) -> Option<ZendeskConfig> {
        let base_url = match (
            self.get(&["ZENDESK_BASE_URL"]),
            self.get(&["ZENDESK_SUBDOMAIN", "SUB_DOMAIN"]),
        ) {
            (Some(url), _) => self.url("ZENDESK_BASE_URL", url),
            (None, Some(sub)) => {
                if sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    Some(format!("https://{sub}.zendesk.com"))
                } else {
                    self.problem(format!(
                        "ZENDESK_SUBDOMAIN must be the bare subdomain (`acme` for acme.zendesk.com), got `{sub}`"
                    ));
                    None
                }
            }
            (None, None) => {
                self.problem(
                    "ZENDESK_SUBDOMAIN (or SUB_DOMAIN, or ZENDESK_BASE_URL) is missing: your Zendesk account's subdomain",
                );
                None
            }
        };
        let auth = match self.get(&["ZENDESK_OAUTH_TOKEN"]) {
            Some(token) => Some(ZendeskAuth::OAuth {
                token: Secret::new(token),
            }),
            None => {
                let email = self.require(
                    &["ZENDESK_EMAIL", "EMAIL"],
                    "the email of the Zendesk agent the bridge acts as (or set ZENDESK_OAUTH_TOKEN)",
                );
                let token = self.require(
                    &["ZENDESK_API_TOKEN", "TOKEN"],
                    "a Zendesk API token (or set ZENDESK_OAUTH_TOKEN)",
                );
                match (email, token) {
                    (Some(email), Some(token)) => Some(ZendeskAuth::ApiToken {
                        email: without_token_suffix(email),
                        token: Secret::new(token),
                    }),
                    _ => None,
                }
            }
        };
        let timeout = self.seconds("ZENDESK_TIMEOUT_SECS", 30);
        let rate_limit_rpm = self.positive(&["ZENDESK_RATE_LIMIT_RPM"], 200);
        Some(ZendeskConfig {
            base_url: base_url?,
            auth: auth?,
            timeout,
            rate_limit_rpm,
        })
    }

    fn im(&mut self) -> Option<ImConfig> {
        let sdkappid = match self.require(
            &["IM_SDKAPPID", "YOUR_SDKAPPID"],
            "the SDKAppID of your Tencent IM application",
        ) {
            Some(raw) => match raw.parse::<u64>() {
                Ok(id) if id > 0 => Some(id),
                _ => {
                    self.problem(
                        "IM_SDKAPPID must be a positive integer (the SDKAppID, not the key)",
                    );
                    None
                }
            },
            None => None,
        };
        let secret_key = self
            .require(
                &["IM_SECRET_KEY", "YOUR_SECRET"],
                "the secret key of your Tencent IM application",
            )
            .map(Secret::new);
        let admin_raw = self
            .get(&["IM_ADMIN_USERID", "ADMIN_USERID"])
            .unwrap_or_else(|| "administrator".into());
        let admin_userid = match ImUserId::parse(&admin_raw) {
            Ok(id) => Some(id),
            Err(e) => {
                self.problem(format!("IM_ADMIN_USERID {e}"));
                None
            }
        };
        let base_url = match (self.get(&["IM_BASE_URL"]), self.get(&["IM_REGION"])) {
            (Some(url), _) => self.url("IM_BASE_URL", url),
            (None, Some(region)) => match region.parse::<Region>() {
                Ok(r) => Some(r.base_url()),
                Err(e) => {
                    self.problem(format!("IM_REGION {e}"));
                    None
                }
            },
            (None, None) => Some(Region::default().base_url()),
        };
        let timeout = self.seconds("IM_TIMEOUT_SECS", 10);
        let rate_limit_per_sec = self.positive(&["IM_RATE_LIMIT_PER_SEC"], 200);
        Some(ImConfig {
            sdkappid: sdkappid?,
            secret_key: secret_key?,
            admin_userid: admin_userid?,
            base_url: base_url?,
            timeout,
            rate_limit_per_sec,
        })
    }

    fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.get(&[name]).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => default,
            Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(_) => {
                self.problem(format!("{name} must be true or false"));
                default
            }
        }
    }

    fn assignment(&mut self) -> AssignmentConfig {
        let agent_prefix = self
            .get(&["AGENT_IM_PREFIX"])
            .unwrap_or_else(|| "zd_".into());
        // The prefix plus a Zendesk user id (up to 20 digits) must stay a valid IM UserID.
        if agent_prefix.len() > 12 || !agent_prefix.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            self.problem(
                "AGENT_IM_PREFIX must be at most 12 printable ASCII characters without spaces",
            );
        }
        AssignmentConfig {
            webhook_secret: self.get(&["ZENDESK_WEBHOOK_SECRET"]).map(Secret::new),
            agent_prefix,
            remove_previous_assignee: self.flag("REMOVE_PREVIOUS_ASSIGNEE", true),
            mute_closed_groups: self.flag("MUTE_CLOSED_GROUPS", true),
            join_notice: self
                .get(&["JOIN_NOTICE_TEXT"])
                .unwrap_or_else(|| DEFAULT_JOIN_NOTICE.into()),
            solved_notice: self
                .get(&["SOLVED_NOTICE_TEXT"])
                .unwrap_or_else(|| DEFAULT_SOLVED_NOTICE.into()),
            closed_notice: self
                .get(&["CLOSED_NOTICE_TEXT"])
                .unwrap_or_else(|| DEFAULT_CLOSED_NOTICE.into()),
        }
    }

    fn conversation(&mut self) -> ConversationConfig {
        let per_ticket = self.positive(&["ZENDESK_TICKET_UPDATES_PER_10MIN"], 25);
        if per_ticket > 30 {
            self.problem("ZENDESK_TICKET_UPDATES_PER_10MIN must be at most 30 (Zendesk's limit)");
        }
        let per_account = self.positive(&["ZENDESK_TICKET_UPDATES_PER_MIN"], 80);
        if per_account > 300 {
            self.problem(
                "ZENDESK_TICKET_UPDATES_PER_MIN must be at most 300 (Zendesk's High Volume limit)",
            );
        }
        let command_prefix = self
            .get(&["CHAT_COMMAND_PREFIX"])
            .unwrap_or_else(|| "/".into());
        if command_prefix.chars().count() > 4 || command_prefix.chars().any(char::is_whitespace) {
            self.problem("CHAT_COMMAND_PREFIX must be 1 to 4 characters without spaces");
        }
        ConversationConfig {
            callback_token: self.get(&["IM_CALLBACK_TOKEN"]).map(Secret::new),
            batch_window: Duration::from_millis(
                self.parse::<u64>(&["COMMENT_BATCH_MS"], "a whole number of milliseconds")
                    .unwrap_or(2000),
            ),
            ticket_updates_per_10min: per_ticket,
            account_updates_per_min: per_account,
            command_prefix,
            sweep_interval: self.seconds("CONVERSATION_SWEEP_SECS", 60),
        }
    }

    fn retention(&mut self) -> RetentionPolicy {
        let hours = |r: &mut Self, name: &str| {
            Duration::from_secs(u64::from(r.positive(&[name], 168)) * 3600)
        };
        let idempotency_keys = hours(self, "IDEMPOTENCY_KEY_RETENTION_HOURS");
        if idempotency_keys < Duration::from_secs(24 * 3600) {
            self.problem(
                "IDEMPOTENCY_KEY_RETENTION_HOURS must be at least 24 (keys are promised for a day)",
            );
        }
        let batch = self.positive(&["RETENTION_BATCH"], 500);
        if batch > 10_000 {
            self.problem("RETENTION_BATCH must be at most 10000");
        }
        RetentionPolicy {
            inbound: hours(self, "INBOUND_RETENTION_HOURS"),
            done_jobs: hours(self, "JOB_RETENTION_HOURS"),
            idempotency_keys,
            interval: self.seconds("RETENTION_INTERVAL_SECS", 3600),
            batch,
        }
    }

    /// A count limit: a whole number, 0 = no limit.
    fn limit(&mut self, name: &str, default: u32) -> Option<u32> {
        let n = self
            .parse::<u32>(&[name], "a whole number (0 = no limit)")
            .unwrap_or(default);
        (n > 0).then_some(n)
    }

    fn limits(&mut self) -> LimitsConfig {
        let mut trusted_proxies = Vec::new();
        for p in self
            .get(&["TRUSTED_PROXIES"])
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match IpNet::parse(p) {
                Some(net) => trusted_proxies.push(net),
                None => self.problem(format!(
                    "TRUSTED_PROXIES entries must be IP addresses or ranges like 10.0.0.0/8, got `{p}`"
                )),
            }
        }
        LimitsConfig {
            cases_per_user_per_hour: self.limit("CASES_PER_USER_PER_HOUR", 20),
            open_tickets_per_user: self.limit("OPEN_TICKETS_PER_USER", 5),
            requests_per_ip_per_sec: self.limit("REQUESTS_PER_IP_PER_SEC", 20),
            trusted_proxies,
            header_timeout: self.seconds("HEADER_TIMEOUT_SECS", 10),
            body_timeout: self.seconds("BODY_TIMEOUT_SECS", 30),
            max_connections: self.positive(&["MAX_CONNECTIONS"], 1024) as usize,
            streams_per_agent: self.limit("STREAMS_PER_AGENT", 20),
        }
    }

    fn url(&mut self, name: &str, url: String) -> Option<String> {
        if url.starts_with("https://") || url.starts_with("http://") {
            Some(url.trim_end_matches('/').to_owned())
        } else {
            self.problem(format!(
                "{name} must be an http:// or https:// URL, got `{url}`"
            ));
            None
        }
    }

    fn cors(&mut self) -> CorsOrigins {
        let Some(raw) = self.get(&["CORS_ALLOWED_ORIGINS"]) else {
            return CorsOrigins::None;
        };
        if raw == "*" {
            return CorsOrigins::Any;
        }
        let mut origins = Vec::new();
        for o in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains('/') => {
                    origins.push(o.to_owned())
                }
                _ => self.problem(format!(
                    "CORS_ALLOWED_ORIGINS entries must be origins like https://app.example.com (scheme and host, no path), got `{o}`"
                )),
            }
        }
        CorsOrigins::List(origins)
    }
}

/// The agent's email as the bridge sends it (`{email}/token`). The reference backend puts
/// `EMAIL:TOKEN` in HTTP Basic as they are, so a working `.env` of it holds
/// `EMAIL=agent@acme.com/token`: that suffix is dropped rather than doubled (no address ends in
/// `/token`, a domain has no `/`).
fn without_token_suffix(email: String) -> String {
    match email.strip_suffix("/token") {
        Some(bare) => bare.to_owned(),
        None => email,
    }
}

fn alternatives(names: &[&str]) -> String {
    match names {
        [one] => (*one).to_owned(),
        [first, rest @ ..] => format!("{first} (or {})", rest.join(", ")),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const MINIMAL: &[(&str, &str)] = &[
        ("ZENDESK_SUBDOMAIN", "acme"),
        ("ZENDESK_EMAIL", "bot@acme.test"),
        ("ZENDESK_API_TOKEN", "zd-token"),
        ("IM_SDKAPPID", "1400000000"),
        ("IM_SECRET_KEY", "im-key"),
    ];

    #[test]
    fn minimal_settings_get_defaults() {
        let c = load(MINIMAL).unwrap();
        assert_eq!(c.port, 15000);
        assert_eq!(c.zendesk.base_url, "https://acme.zendesk.com");
        assert_eq!(c.zendesk.timeout, Duration::from_secs(30));
        assert_eq!(c.im.admin_userid.as_str(), "administrator");
        assert_eq!(c.im.base_url, "https://console.tim.qq.com");
        assert_eq!(c.client_auth, ClientAuth::UserSig);
        assert_eq!(c.cors_allowed_origins, CorsOrigins::None);
        assert_eq!(c.database_url.expose(), "sqlite://ticket-bridge.db");
        assert_eq!(c.zendesk.rate_limit_rpm, 200);
        assert_eq!(c.im.rate_limit_per_sec, 200);
        assert_eq!(c.request_deadline, Duration::from_secs(15));
        assert_eq!(c.job_workers, 4);
        assert_eq!(c.assignment.agent_prefix, "zd_");
        assert!(c.assignment.remove_previous_assignee && c.assignment.mute_closed_groups);
        assert!(c.assignment.webhook_secret.is_none());
        assert!(c.conversation.callback_token.is_none());
        assert_eq!(c.conversation.batch_window, Duration::from_secs(2));
        assert_eq!(c.conversation.ticket_updates_per_10min, 25);
        assert_eq!(c.conversation.account_updates_per_min, 80);
        assert_eq!(c.conversation.command_prefix, "/");
        assert_eq!(c.conversation.sweep_interval, Duration::from_secs(60));
        assert_eq!(c.shutdown_drain, Duration::ZERO);
        assert!(c.metrics_token.is_none());
        assert_eq!(c.database, DatabaseConfig::default());
        let week = Duration::from_secs(7 * 24 * 3600);
        assert_eq!(
            c.retention,
            RetentionPolicy {
                inbound: week,
                done_jobs: week,
                idempotency_keys: week,
                interval: Duration::from_secs(3600),
                batch: 500,
            }
        );
        assert_eq!(c.limits.cases_per_user_per_hour, Some(20));
        assert_eq!(c.limits.open_tickets_per_user, Some(5));
        assert_eq!(c.limits.requests_per_ip_per_sec, Some(20));
        assert!(c.limits.trusted_proxies.is_empty());
        assert_eq!(c.limits.header_timeout, Duration::from_secs(10));
        assert_eq!(c.limits.body_timeout, Duration::from_secs(30));
        assert_eq!(c.limits.max_connections, 1024);
        assert_eq!(c.limits.streams_per_agent, Some(20));
    }

    #[test]
    fn retention_keeps_keys_a_day_and_batches_bounded() {
        let mut vars = MINIMAL.to_vec();
        vars.extend([
            ("IDEMPOTENCY_KEY_RETENTION_HOURS", "23"),
            ("RETENTION_BATCH", "10001"),
            ("INBOUND_RETENTION_HOURS", "0"),
            ("SHUTDOWN_DRAIN_SECS", "soon"),
        ]);
        let err = load(&vars).unwrap_err().to_string();
        for name in [
            "IDEMPOTENCY_KEY_RETENTION_HOURS",
            "RETENTION_BATCH",
            "INBOUND_RETENTION_HOURS",
            "SHUTDOWN_DRAIN_SECS",
        ] {
            assert!(err.contains(name), "{name} not reported: {err}");
        }
    }

    #[test]
    fn database_settings_are_read_and_checked() {
        let with = |extra: [(&'static str, &'static str); 3]| {
            let mut vars = MINIMAL.to_vec();
            vars.extend(extra);
            load(&vars)
        };
        let c = with([
            ("DATABASE_MAX_CONNECTIONS", "3"),
            ("DATABASE_STATEMENT_TIMEOUT_SECS", "5"),
            ("DATABASE_POLL_MS", "2000"),
        ])
        .unwrap();
        assert_eq!(c.database.max_connections, 3);
        assert_eq!(c.database.statement_timeout, Duration::from_secs(5));
        assert_eq!(c.database.poll_interval, Duration::from_secs(2));

        let err = with([
            ("DATABASE_MAX_CONNECTIONS", "0"),
            ("DATABASE_STATEMENT_TIMEOUT_SECS", "soon"),
            ("DATABASE_POLL_MS", "-1"),
        ])
        .unwrap_err();
        for name in [
            "DATABASE_MAX_CONNECTIONS",
            "DATABASE_STATEMENT_TIMEOUT_SECS",
            "DATABASE_POLL_MS",
        ] {
            assert!(err.to_string().contains(name), "{name} not in {err}");
        }
    }

    #[test]
    fn limits_can_be_lifted_and_proxies_trusted() {
        let mut vars = MINIMAL.to_vec();
        vars.extend([
            ("CASES_PER_USER_PER_HOUR", "0"),
            ("REQUESTS_PER_IP_PER_SEC", "0"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7, fd00::/8"),
        ]);
        let c = load(&vars).unwrap();
        assert_eq!(c.limits.cases_per_user_per_hour, None);
        assert_eq!(c.limits.requests_per_ip_per_sec, None);
        let trusted = |ip: &str| {
            let ip = ip.parse().unwrap();
            c.limits.trusted_proxies.iter().any(|n| n.contains(ip))
        };
        assert!(trusted("10.200.3.4") && trusted("192.168.1.7") && trusted("fd12::1"));
        assert!(trusted("::ffff:10.1.1.1"), "IPv4-mapped");
        assert!(!trusted("192.168.1.8") && !trusted("11.0.0.1") && !trusted("fe80::1"));
        assert_eq!(
            IpNet::parse("0.0.0.0/0").map(|n| n.contains("8.8.8.8".parse().unwrap())),
            Some(true)
        );

        let mut bad = MINIMAL.to_vec();
        bad.extend([
            ("TRUSTED_PROXIES", "10.0.0.0/33,proxy.local"),
            ("MAX_CONNECTIONS", "0"),
            ("HEADER_TIMEOUT_SECS", "x"),
            ("STREAMS_PER_AGENT", "-1"),
        ]);
        let err = load(&bad).unwrap_err();
        let text = err.to_string();
        for name in [
            "10.0.0.0/33",
            "proxy.local",
            "MAX_CONNECTIONS",
            "HEADER_TIMEOUT_SECS",
            "STREAMS_PER_AGENT",
        ] {
            assert!(text.contains(name), "{name} not in {text}");
        }
    }

    #[test]
    fn conversation_limits_stay_under_zendesks() {
        let mut vars = MINIMAL.to_vec();
        vars.extend([
            ("ZENDESK_TICKET_UPDATES_PER_10MIN", "31"),
            ("ZENDESK_TICKET_UPDATES_PER_MIN", "301"),
            ("CHAT_COMMAND_PREFIX", "! !"),
            ("IM_CALLBACK_TOKEN", "cb-token"),
        ]);
        let err = load(&vars).unwrap_err().to_string();
        for name in [
            "ZENDESK_TICKET_UPDATES_PER_10MIN",
            "ZENDESK_TICKET_UPDATES_PER_MIN",
            "CHAT_COMMAND_PREFIX",
        ] {
            assert!(err.contains(name), "{name} not in {err}");
        }
        assert!(!err.contains("cb-token"));
    }

    #[test]
    fn reference_backend_names_work_as_fallbacks() {
        let c = load(&[
            ("SUB_DOMAIN", "acme"),
            ("EMAIL", "bot@acme.test"),
            ("TOKEN", "zd-token"),
            ("YOUR_SDKAPPID", "1400000001"),
            ("YOUR_SECRET", "im-key"),
            ("ADMIN_USERID", "admin1"),
        ])
        .unwrap();
        assert_eq!(c.im.sdkappid, 1_400_000_001);
        assert_eq!(c.im.admin_userid.as_str(), "admin1");
        assert!(
            matches!(c.zendesk.auth, ZendeskAuth::ApiToken { ref email, .. } if email == "bot@acme.test")
        );
    }

    #[test]
    fn an_email_already_ending_in_token_is_not_doubled() {
        for email in ["bot@acme.test/token", "bot@acme.test"] {
            let c = load(&[
                ("SUB_DOMAIN", "acme"),
                ("EMAIL", email),
                ("TOKEN", "zd-token"),
                ("YOUR_SDKAPPID", "1400000001"),
                ("YOUR_SECRET", "im-key"),
            ])
            .unwrap();
            assert!(
                matches!(c.zendesk.auth, ZendeskAuth::ApiToken { ref email, .. } if email == "bot@acme.test"),
                "{email}"
            );
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = load(&[
            ("PORT", "eighty"),
            ("IM_SDKAPPID", "abc"),
            ("CLIENT_AUTH", "maybe"),
            ("IM_REGION", "mars"),
            ("CORS_ALLOWED_ORIGINS", "https://ok.example, ftp://bad"),
            ("ZENDESK_RATE_LIMIT_RPM", "0"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "PORT",
            "ZENDESK_SUBDOMAIN",
            "ZENDESK_EMAIL",
            "ZENDESK_API_TOKEN",
            "IM_SDKAPPID",
            "IM_SECRET_KEY",
            "CLIENT_AUTH",
            "IM_REGION",
            "ftp://bad",
            "ZENDESK_RATE_LIMIT_RPM",
        ] {
            assert!(text.contains(needle), "{needle} not named in:\n{text}");
        }
        assert_eq!(err.problems.len(), 10, "{text}");
    }

    #[test]
    fn oauth_token_replaces_email_and_api_token() {
        let c = load(&[
            ("ZENDESK_SUBDOMAIN", "acme"),
            ("ZENDESK_OAUTH_TOKEN", "oauth-secret"),
            ("IM_SDKAPPID", "1"),
            ("IM_SECRET_KEY", "k"),
            ("IM_REGION", "singapore"),
        ])
        .unwrap();
        assert!(matches!(c.zendesk.auth, ZendeskAuth::OAuth { .. }));
        assert_eq!(c.im.base_url, "https://adminapisgp.im.qcloud.com");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let mut vars = MINIMAL.to_vec();
        vars.push(("IM_CALLBACK_TOKEN", "cb-secret"));
        let c = load(&vars).unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("zd-token") && !dbg.contains("im-key") && !dbg.contains("cb-secret"),
            "{dbg}"
        );
    }
}
