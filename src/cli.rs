//! The command line: `serve` (default), `migrate`, `create-user`, `openapi`,
//! `healthcheck`, `knowledge check`. Every command reads the same settings
//! from the environment (`knowledge check` needs none).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

use crate::auth::PasswordHasher;
use crate::config::Settings;
use crate::db::{redacted_url, Database};
use crate::domain::{Email, Password, UserName};
use crate::llm::knowledge::{check_folder, KnowledgeBase};
use crate::service::users;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "richesreach-chat",
    version,
    about = "RichesReach Chat: the chat backend of RichesReach"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a user; the password comes from $PASSWORD or a prompt without echo.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Exit 0 if the server on `BIND` answers `GET /healthz` with 200 within
    /// 2 s, else 1 (for container health checks; needs no curl).
    Healthcheck,
    /// Work with a folder of knowledge topics (see KNOWLEDGE_DIR).
    Knowledge {
        #[command(subcommand)]
        command: KnowledgeCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KnowledgeCommand {
    /// Parse every .md file of DIR as the server would at start, print what
    /// would be indexed, and exit 1 if any file is malformed.
    Check {
        /// The folder to check.
        dir: PathBuf,
    },
}

/// How long `healthcheck` waits for the whole exchange.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

pub async fn run(cli: Cli) -> CliResult {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let settings = Settings::from_env()?;
            let app = Application::build(settings.clone())?;
            tracing::info!(bind = %settings.bind, port = app.port(), "RichesReach Chat listening");
            app.run_until_stopped().await?;
            Ok(())
        }
        Command::Migrate => {
            let settings = Settings::from_env()?;
            let db =
                Database::connect_with(&settings.database_url, &settings.db_options().single())?;
            let applied = db.migrate()?;
            println!(
                "{applied} migration(s) applied to {}",
                redacted_url(&settings.database_url)
            );
            Ok(())
        }
        Command::CreateUser { email, name, admin } => {
            let settings = Settings::from_env()?;
            let email = Email::parse(&email).map_err(|e| format!("email {}", e.message))?;
            let name = UserName::parse(&name).map_err(|e| format!("name {}", e.message))?;
            let raw = match std::env::var("PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => rpassword::prompt_password("Password: ")?,
            };
            let password = Password::parse(raw).map_err(|e| format!("password {}", e.message))?;
            let hash =
                PasswordHasher::new(settings.bcrypt_cost).hash_blocking(password.expose())?;
            let db =
                Database::connect_with(&settings.database_url, &settings.db_options().single())?;
            db.migrate()?;
            let mut conn = db.get()?;
            let user = users::create(&mut conn, &email, &name, &hash, admin)?;
            println!(
                "created {} {} ({}) in {}",
                if user.is_admin {
                    "administrator"
                } else {
                    "user"
                },
                user.email,
                user.id,
                redacted_url(&settings.database_url)
            );
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::openapi::spec_json());
            Ok(())
        }
        Command::Healthcheck => {
            let settings = Settings::from_env()?;
            let addr = local_address(&settings.bind)?;
            healthcheck(addr, HEALTHCHECK_TIMEOUT)?;
            Ok(())
        }
        Command::Knowledge {
            command: KnowledgeCommand::Check { dir },
        } => knowledge_check(&dir),
    }
}

/// `knowledge check DIR`: one line per topic (file, title, keyword count,
/// paragraphs, sources), the files ignored, then every problem; an error when
/// there is a problem.
fn knowledge_check(dir: &Path) -> CliResult {
    let report = check_folder(dir)?;
    let builtin: Vec<&str> = KnowledgeBase::embedded()
        .topics()
        .map(|t| t.slug.as_str())
        .collect();
    for (path, topic) in &report.topics {
        let replaces = if builtin.contains(&topic.slug.as_str()) {
            " (replaces the built-in topic in extend mode)"
        } else {
            ""
        };
        println!(
            "{}: \"{}\", {} keyword(s), {} paragraph(s){replaces}",
            path.display(),
            topic.title,
            topic.keywords.len(),
            topic.paragraphs.len()
        );
        for source in &topic.sources {
            println!("    source: {} | {}", source.title, source.url);
        }
    }
    for path in &report.ignored {
        println!("{}: ignored (not a .md file)", path.display());
    }
    let (topics, problems) = (report.topics.len(), report.problems.len());
    for problem in &report.problems {
        eprintln!("{problem}");
    }
    if problems > 0 {
        return Err(format!(
            "{problems} malformed file(s) in {}; {topics} topic(s) are fine",
            dir.display()
        )
        .into());
    }
    println!("{topics} topic(s) in {} would be indexed", dir.display());
    Ok(())
}

/// Where a probe on this machine reaches a server bound to `bind`: the same
/// address, or loopback when it listens on every interface (`0.0.0.0`, `[::]`)
/// or on a host name.
pub fn local_address(bind: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = bind.parse::<SocketAddr>() {
        let ip = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        return Ok(SocketAddr::new(ip, addr.port()));
    }
    bind.rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .filter(|port| *port != 0)
        .map(|port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
        .ok_or_else(|| format!("BIND={bind:?} has no port to probe"))
}

/// `GET /healthz` over a plain TCP connection (HTTP/1.1, no client library);
/// Ok when the answer's status is 200 within `timeout` overall.
pub fn healthcheck(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| format!("{addr}: no answer within {timeout:?}"))
    };
    let fail = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            format!("{addr}: no answer within {timeout:?}")
        }
        _ => format!("{addr}: {e}"),
    };
    let mut stream = TcpStream::connect_timeout(&addr, remaining()?).map_err(fail)?;
    stream.set_write_timeout(Some(remaining()?)).map_err(fail)?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(fail)?;
    // Only the status line matters; read until it is complete.
    let mut head = Vec::new();
    let mut chunk = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        stream.set_read_timeout(Some(remaining()?)).map_err(fail)?;
        match stream.read(&mut chunk).map_err(fail)? {
            0 => break,
            n => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("{addr}: GET /healthz answered {status_line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_probe_goes_to_loopback_when_the_server_listens_everywhere() {
        let at = |bind| local_address(bind).unwrap().to_string();
        assert_eq!(at("0.0.0.0:8000"), "127.0.0.1:8000");
        assert_eq!(at("[::]:8000"), "[::1]:8000");
        assert_eq!(at("127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(at("10.1.2.3:80"), "10.1.2.3:80");
        assert_eq!(at("localhost:8000"), "127.0.0.1:8000");
        assert!(local_address("no-port").is_err());
        assert!(local_address("localhost:0").is_err());
    }

    /// A one-shot server that answers the first request with `answer`
    /// (nothing when `None`, keeping the connection open).
    fn fake_server(answer: Option<&'static str>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let n = conn.read(&mut request).unwrap();
            assert!(request[..n].starts_with(b"GET /healthz HTTP/1.1\r\n"));
            match answer {
                Some(answer) => conn.write_all(answer.as_bytes()).unwrap(),
                None => std::thread::sleep(Duration::from_secs(3)),
            }
        });
        addr
    }

    #[test]
    fn a_200_answer_is_healthy() {
        let addr = fake_server(Some(
            "HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}",
        ));
        healthcheck(addr, HEALTHCHECK_TIMEOUT).unwrap();
    }

    #[test]
    fn any_other_answer_is_unhealthy() {
        let addr = fake_server(Some("HTTP/1.1 503 Service Unavailable\r\n\r\n"));
        let err = healthcheck(addr, HEALTHCHECK_TIMEOUT).unwrap_err();
        assert!(err.contains("503"), "{err}");
    }

    #[test]
    fn a_silent_server_is_unhealthy_once_the_time_is_up() {
        let addr = fake_server(None);
        let started = Instant::now();
        let err = healthcheck(addr, Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("no answer within"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // The listener is dropped: the port is closed.
        assert!(healthcheck(addr, HEALTHCHECK_TIMEOUT).is_err());
    }
}
