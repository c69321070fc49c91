use clap::Parser;

use richesreach_chat::cli::{self, Cli};

/// mimalloc instead of glibc's malloc: the service allocates and frees small
/// buffers on many threads (rows, JSON, SSE pieces), often freeing on one
/// thread what another allocated; under sends glibc's malloc and free (with
/// the page faults and trims beneath them) were 17 % of the HTTP workers'
/// time. Measured in `bench/README.md`: sends +7–12 %, history pages +10 %,
/// 2,000 streams 15 % less CPU, the same peak RSS.
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
