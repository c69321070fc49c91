//! The command line: `serve` (default), `migrate`, `create-user`, `openapi`.
//! Every command reads the same settings from the environment.

use clap::{Parser, Subcommand};

use crate::auth::PasswordHasher;
use crate::config::Settings;
use crate::db::Database;
use crate::domain::{Email, Password, UserName};
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
}

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
            let db = Database::connect(&settings.database_url, 1)?;
            let applied = db.migrate()?;
            println!(
                "{applied} migration(s) applied to {}",
                settings.database_url
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
            let db = Database::connect(&settings.database_url, 1)?;
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
                settings.database_url
            );
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::openapi::spec_json());
            Ok(())
        }
    }
}
