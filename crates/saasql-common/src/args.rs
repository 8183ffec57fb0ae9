//! Command-line values the command, the server and the cluster parse alike.

/// Parses a listening address: `IP:PORT`, or a bare `PORT` on 127.0.0.1.
pub fn parse_bind(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok((std::net::Ipv4Addr::LOCALHOST, port).into());
    }
    s.parse()
        .map_err(|_| format!("'{s}' is not IP:PORT or PORT (e.g. 127.0.0.1:50050)"))
}
