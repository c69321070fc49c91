use clap::Parser;

use richesreach_chat::cli::{self, Cli};

/// mimalloc instead of glibc's malloc: the service allocates and frees small
/// buffers on many threads (rows, JSON, SSE pieces), often freeing on one
/// thread what another allocated, and glibc's arenas made that 15 % of the
/// SQLite writer's time under sends. Measured in `bench/README.md`: sends
/// +8–15 %, history pages +10 %, 2,000 streams 15 % less CPU, peak RSS the
/// same.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() {
    richesreach_chat::telemetry::init();
    let parsed = Cli::parse();
    if let Err(e) = cli::run(parsed).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
