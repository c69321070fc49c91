use clap::Parser;

use richesreach_chat::cli::{self, Cli};

#[actix_web::main]
async fn main() {
    richesreach_chat::telemetry::init();
    let parsed = Cli::parse();
    if let Err(e) = cli::run(parsed).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
