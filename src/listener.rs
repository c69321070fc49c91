//! The server's listening socket.
//!
//! `std::net::TcpListener::bind` asks the kernel for a queue of 128
//! connections waiting to be accepted. A burst of clients larger than that
//! (2,000 streams opened at once in the benchmark) overflowed it: the
//! kernel drops the SYNs it has no room for and each of those clients tries
//! again only after a second (a tenth of the streams started a second late).
//! Here the queue is [`BACKLOG`] long, which Linux caps at
//! `net.core.somaxconn` (4096 by default).

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// Connections the kernel holds for the server before it accepts them.
pub const BACKLOG: i32 = 4096;

/// Listens on the first address `addr` resolves to that can be bound, like
/// `TcpListener::bind`, with a [`BACKLOG`]-long accept queue.
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match bind_one(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std does for a listener: a restarted server can bind at once.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

    /// Connections complete while nobody accepts them, up to the backlog:
    /// with std's 128 the 130th connect waits for a SYN retransmission (a
    /// second) and times out. (The kernel's cap bounds the burst tried.)
    #[test]
    fn a_burst_of_connections_waits_in_the_queue_instead_of_being_dropped() {
        let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(4096);
        let burst = cap.min(400);
        let listener = bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut open = Vec::new();
        for n in 0..burst {
            let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                .unwrap_or_else(|e| panic!("connection {n} was not queued: {e}"));
            open.push(stream);
        }
        assert_eq!(open.len(), burst);
    }

    #[test]
    fn it_binds_like_std_and_reports_what_cannot_be_bound() {
        let listener = bind("localhost:0").expect("a name resolves");
        assert!(listener.local_addr().expect("address").port() > 0);
        let taken = listener.local_addr().expect("address").to_string();
        assert!(bind(&taken).is_err(), "the port is in use");
        assert!(bind("not an address").is_err());
    }
}
