//! Settings, read once from the environment. Secrets are `SecretString`s, so
//! `Debug` (and therefore logs) never prints them and reading one takes an
//! explicit `expose_secret()`.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::db::{sqlite_path, Backend, DbOptions};
use crate::llm::knowledge::KnowledgeMode;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Where the JWT signing key comes from.
#[derive(Debug, Clone)]
pub enum JwtSecretSource {
    /// Set through `JWT_SECRET`.
    Env(SecretString),
    /// Generated once and kept in the database, so every process on it signs
    /// with the same key. `import` is the key file earlier versions kept
    /// beside a SQLite database: its key becomes the stored one, so tokens
    /// already issued stay valid.
    Database { import: Option<PathBuf> },
}

#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub api_key: Option<SecretString>,
    pub base_url: String,
    pub model: String,
    pub timeout_secs: u64,
    pub max_retries: usize,
    /// Ask the provider for token log-probabilities (they make confidence meaningful).
    pub request_logprobs: bool,
    pub context_max_messages: usize,
    pub context_max_chars: usize,
    /// Characters of knowledge-base passages a provider request may carry
    /// (0 = none: the model answers ungrounded).
    pub context_knowledge_chars: usize,
    /// A folder of Markdown topics loaded at start (`None` = built-ins only).
    pub knowledge_dir: Option<PathBuf>,
    /// Whether `knowledge_dir` adds to the built-in topics or replaces them.
    pub knowledge_mode: KnowledgeMode,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker keeps the provider out of the path.
    pub breaker_cooldown_secs: u64,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub database_url: String,
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before a 503.
    pub db_connect_timeout_secs: u64,
    /// PostgreSQL's `statement_timeout` (0 = none).
    pub db_statement_timeout_secs: u64,
    pub jwt_secret: JwtSecretSource,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub bcrypt_cost: u32,
    pub allow_registration: bool,
    pub max_body_bytes: usize,
    /// Longest silence while a request body arrives (a stalled body gets 408).
    pub body_idle_timeout_secs: u64,
    /// Longest time from the request head to the end of its body (a trickled body gets 408).
    pub body_read_timeout_secs: u64,
    pub rate_limit_auth_per_min: u32,
    /// Registrations per client address per minute.
    pub rate_limit_register_per_min: u32,
    /// bcrypt hashes computed at once; the rest wait, so sign-ins cannot take every core.
    pub bcrypt_max_concurrent: usize,
    pub rate_limit_messages_per_min: u32,
    pub metrics_token: Option<SecretString>,
    /// Browser origins allowed to call the API (`*` = any); empty = same origin only.
    pub cors_allowed_origins: Vec<String>,
    /// Seconds of silence after which a streamed reply sends a keep-alive comment.
    pub sse_keep_alive_secs: u64,
    /// How long a reply's writer holds it without renewing its lease; a
    /// reply whose writer died is taken over after this.
    pub reply_lease_secs: u64,
    /// How long a SIGTERM waits for replies being written before handing the
    /// rest over (their leases expire at once).
    pub shutdown_grace_secs: u64,
    /// Provider tokens (prompt + completion) each user may spend per UTC
    /// day; past it the offline responder answers. 0 = no limit.
    pub token_quota_per_day: u64,
    /// Sessions with no activity for this many days are deleted; 0 = keep forever.
    pub retention_days: u64,
    /// Seconds between retention sweeps (1–3600).
    pub retention_sweep_secs: u64,
    pub llm: LlmSettings,
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// About 400 words: the best topic's relevant paragraphs and the opening of
/// a runner-up or two, without crowding out the conversation.
pub const DEFAULT_CONTEXT_KNOWLEDGE_CHARS: usize = 2_500;

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let database_url = env.string("DATABASE_URL", "data/chat.db");
        let jwt_secret = match env.non_empty("JWT_SECRET") {
            Some(secret) => JwtSecretSource::Env(SecretString::from(secret)),
            None => JwtSecretSource::Database {
                import: match Backend::of(&database_url) {
                    Backend::Sqlite => Some(data_dir(&database_url).join("jwt_secret")),
                    Backend::Postgres => None,
                },
            },
        };
        let bcrypt_cost = env.parse("BCRYPT_COST", bcrypt::DEFAULT_COST)?;
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(invalid(
                "BCRYPT_COST",
                bcrypt_cost,
                "must be between 4 and 31",
            ));
        }
        let settings = Self {
            bind: env.string("BIND", "127.0.0.1:8000"),
            db_pool_size: env.parse("DB_POOL_SIZE", 8)?,
            db_connect_timeout_secs: env.parse("DB_CONNECT_TIMEOUT_SECS", 5)?,
            db_statement_timeout_secs: env.parse("DB_STATEMENT_TIMEOUT_SECS", 30)?,
            database_url,
            jwt_secret,
            access_token_ttl_secs: env.parse("ACCESS_TOKEN_TTL", 900)?,
            refresh_token_ttl_secs: env.parse("REFRESH_TOKEN_TTL", 30 * 24 * 3600)?,
            bcrypt_cost,
            allow_registration: env.flag("ALLOW_REGISTRATION", true)?,
            max_body_bytes: env.parse("MAX_BODY_BYTES", 256 * 1024)?,
            body_idle_timeout_secs: env.parse("BODY_IDLE_TIMEOUT_SECS", 10)?,
            body_read_timeout_secs: env.parse("BODY_READ_TIMEOUT_SECS", 30)?,
            rate_limit_auth_per_min: env.parse("RATE_LIMIT_AUTH_PER_MIN", 10)?,
            rate_limit_register_per_min: env.parse("RATE_LIMIT_REGISTER_PER_MIN", 5)?,
            bcrypt_max_concurrent: env
                .parse("BCRYPT_MAX_CONCURRENT", default_hash_concurrency())?,
            rate_limit_messages_per_min: env.parse("RATE_LIMIT_MESSAGES_PER_MIN", 60)?,
            metrics_token: env.non_empty("METRICS_TOKEN").map(SecretString::from),
            sse_keep_alive_secs: env.parse("SSE_KEEP_ALIVE_SECS", 15)?,
            reply_lease_secs: env.parse("REPLY_LEASE_SECS", 10)?,
            shutdown_grace_secs: env.parse("SHUTDOWN_GRACE_SECS", 20)?,
            token_quota_per_day: env.parse("TOKEN_QUOTA_PER_DAY", 0)?,
            retention_days: env.parse("RETENTION_DAYS", 0)?,
            retention_sweep_secs: env.parse("RETENTION_SWEEP_SECS", 3600)?,
            cors_allowed_origins: env
                .non_empty("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            llm: LlmSettings {
                api_key: env.non_empty("OPENAI_API_KEY").map(SecretString::from),
                base_url: env
                    .non_empty("OPENAI_BASE_URL")
                    .unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.to_owned()),
                model: env.string("OPENAI_MODEL", "gpt-4o-mini"),
                timeout_secs: env.parse("LLM_TIMEOUT_SECS", 30)?,
                max_retries: env.parse("LLM_MAX_RETRIES", 1)?,
                request_logprobs: env.flag("LLM_LOGPROBS", false)?,
                context_max_messages: env.parse("CONTEXT_MAX_MESSAGES", 20)?,
                context_max_chars: env.parse("CONTEXT_MAX_CHARS", 12_000)?,
                context_knowledge_chars: env
                    .parse("CONTEXT_KNOWLEDGE_CHARS", DEFAULT_CONTEXT_KNOWLEDGE_CHARS)?,
                knowledge_dir: env.non_empty("KNOWLEDGE_DIR").map(PathBuf::from),
                knowledge_mode: env.parse("KNOWLEDGE_MODE", KnowledgeMode::Extend)?,
                breaker_threshold: env.parse("LLM_BREAKER_THRESHOLD", 5)?,
                breaker_cooldown_secs: env.parse("LLM_BREAKER_COOLDOWN_SECS", 30)?,
            },
        };
        if settings.db_pool_size == 0 {
            return Err(invalid("DB_POOL_SIZE", 0, "must be at least 1"));
        }
        if settings.db_connect_timeout_secs == 0 {
            return Err(invalid("DB_CONNECT_TIMEOUT_SECS", 0, "must be at least 1"));
        }
        if settings.access_token_ttl_secs == 0 || settings.refresh_token_ttl_secs == 0 {
            return Err(invalid(
                "ACCESS_TOKEN_TTL/REFRESH_TOKEN_TTL",
                0,
                "must be positive",
            ));
        }
        if settings.max_body_bytes < 1024 {
            return Err(invalid(
                "MAX_BODY_BYTES",
                settings.max_body_bytes,
                "must be at least 1024",
            ));
        }
        if settings.body_idle_timeout_secs == 0 || settings.body_read_timeout_secs == 0 {
            return Err(invalid(
                "BODY_IDLE_TIMEOUT_SECS/BODY_READ_TIMEOUT_SECS",
                0,
                "must be at least 1",
            ));
        }
        if settings.bcrypt_max_concurrent == 0 {
            return Err(invalid("BCRYPT_MAX_CONCURRENT", 0, "must be at least 1"));
        }
        if settings.sse_keep_alive_secs == 0 {
            return Err(invalid("SSE_KEEP_ALIVE_SECS", 0, "must be at least 1"));
        }
        if settings.reply_lease_secs < 2 {
            // A save every 500 ms renews it: shorter would take over live writers.
            return Err(invalid(
                "REPLY_LEASE_SECS",
                settings.reply_lease_secs,
                "must be at least 2",
            ));
        }
        if !(1..=3600).contains(&settings.retention_sweep_secs) {
            // The contract promises a sweep at least hourly.
            return Err(invalid(
                "RETENTION_SWEEP_SECS",
                settings.retention_sweep_secs,
                "must be between 1 and 3600",
            ));
        }
        if settings.llm.knowledge_mode == KnowledgeMode::Replace
            && settings.llm.knowledge_dir.is_none()
        {
            return Err(invalid(
                "KNOWLEDGE_MODE",
                "replace",
                "needs KNOWLEDGE_DIR (the topics that replace the built-in ones)",
            ));
        }
        if settings.llm.context_max_messages == 0 {
            return Err(invalid("CONTEXT_MAX_MESSAGES", 0, "must be at least 1"));
        }
        Ok(settings)
    }
}

impl Settings {
    /// The database pool's settings.
    pub fn db_options(&self) -> DbOptions {
        DbOptions {
            max_connections: self.db_pool_size,
            connect_timeout: std::time::Duration::from_secs(self.db_connect_timeout_secs),
            statement_timeout: std::time::Duration::from_secs(self.db_statement_timeout_secs),
        }
    }
}

/// Half the cores (at least one): bcrypt is pure CPU work, and the other half
/// keeps answering everything else while sign-ins queue.
fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// The directory that holds a SQLite database file.
pub fn data_dir(database_url: &str) -> PathBuf {
    let path = sqlite_path(database_url);
    match Path::new(path).parent() {
        Some(dir) if path != ":memory:" && !dir.as_os_str().is_empty() => dir.to_path_buf(),
        Some(_) if path != ":memory:" => PathBuf::from("."),
        _ => PathBuf::from("data"),
    }
}

fn invalid(name: &'static str, value: impl ToString, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    fn non_empty(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.non_empty(name).unwrap_or_else(|| default.to_owned())
    }

    fn parse<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        match self.non_empty(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e: T::Err| invalid(name, &raw, &e.to_string())),
        }
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.non_empty(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(invalid(name, v, "expected true/false")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind, "127.0.0.1:8000");
        assert_eq!(s.database_url, "data/chat.db");
        assert_eq!(s.max_body_bytes, 262_144);
        assert!(s.allow_registration);
        assert!(matches!(
            s.jwt_secret,
            JwtSecretSource::Database { import: Some(ref p) } if p.ends_with("data/jwt_secret")
        ));
        assert_eq!(s.db_connect_timeout_secs, 5);
        assert_eq!(s.db_statement_timeout_secs, 30);
    }

    #[test]
    fn a_postgres_url_has_no_data_directory_and_no_key_file() {
        for url in [
            "postgres://chat@db/chat",
            "postgresql://chat@db:5432/chat?sslmode=require",
        ] {
            let s = settings(&[("DATABASE_URL", url)]).unwrap();
            assert_eq!(Backend::of(&s.database_url), Backend::Postgres);
            assert!(matches!(
                s.jwt_secret,
                JwtSecretSource::Database { import: None }
            ));
        }
        assert_eq!(Backend::of("data/chat.db"), Backend::Sqlite);
        assert_eq!(Backend::of("sqlite://postgres.db"), Backend::Sqlite);
    }

    #[test]
    fn bad_numbers_are_reported_by_name() {
        let err = settings(&[("BCRYPT_COST", "lots")]).unwrap_err();
        assert!(err.to_string().contains("BCRYPT_COST"));
        assert!(settings(&[("BCRYPT_COST", "3")]).is_err());
        assert!(settings(&[("ALLOW_REGISTRATION", "maybe")]).is_err());
    }

    #[test]
    fn secrets_are_hidden_from_debug() {
        let s = settings(&[
            ("JWT_SECRET", "hunter2"),
            ("OPENAI_API_KEY", "sk-abc"),
            ("METRICS_TOKEN", "scrape-me"),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        for secret in ["hunter2", "sk-abc", "scrape-me"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("REDACTED"), "{printed}");
        // The values are still there for the code that needs them.
        let JwtSecretSource::Env(jwt) = &s.jwt_secret else {
            panic!("JWT_SECRET was set")
        };
        assert_eq!(jwt.expose_secret(), "hunter2");
    }

    #[test]
    fn knowledge_settings_have_defaults_and_are_checked() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.llm.context_knowledge_chars,
            DEFAULT_CONTEXT_KNOWLEDGE_CHARS
        );
        assert_eq!(s.llm.knowledge_dir, None);
        assert_eq!(s.llm.knowledge_mode, KnowledgeMode::Extend);
        let s = settings(&[("KNOWLEDGE_DIR", "/srv/kb"), ("KNOWLEDGE_MODE", "Replace")]).unwrap();
        assert_eq!(s.llm.knowledge_dir, Some(PathBuf::from("/srv/kb")));
        assert_eq!(s.llm.knowledge_mode, KnowledgeMode::Replace);
        let err = settings(&[("KNOWLEDGE_MODE", "merge")]).unwrap_err();
        assert!(err.to_string().contains("KNOWLEDGE_MODE"), "{err}");
        let err = settings(&[("KNOWLEDGE_MODE", "replace")]).unwrap_err();
        assert!(err.to_string().contains("KNOWLEDGE_DIR"), "{err}");
    }

    #[test]
    fn quotas_and_retention_are_off_by_default_and_sweeps_are_at_least_hourly() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            (
                s.token_quota_per_day,
                s.retention_days,
                s.retention_sweep_secs
            ),
            (0, 0, 3600)
        );
        let s = settings(&[("TOKEN_QUOTA_PER_DAY", "5000"), ("RETENTION_DAYS", "30")]).unwrap();
        assert_eq!((s.token_quota_per_day, s.retention_days), (5000, 30));
        for bad in ["0", "3601"] {
            let err = settings(&[("RETENTION_SWEEP_SECS", bad)]).unwrap_err();
            assert!(err.to_string().contains("RETENTION_SWEEP_SECS"), "{err}");
        }
        assert!(settings(&[("TOKEN_QUOTA_PER_DAY", "-1")]).is_err());
    }

    #[test]
    fn sqlite_prefix_is_accepted() {
        assert_eq!(
            data_dir("sqlite:///var/lib/chat/chat.db"),
            PathBuf::from("/var/lib/chat")
        );
        assert_eq!(data_dir("chat.db"), PathBuf::from("."));
    }
}
