//! The client's address as keel records it (the audit log, the sign-in
//! limits): the connection's peer, or, when the peer is a proxy the
//! operator trusts (`--trusted-proxy`, e.g. the CDN or a load balancer),
//! the nearest address in `X-Forwarded-For` that is not itself one.
//!
//! The header is read right to left, as the proxies appended to it: only
//! what trusted proxies wrote is believed, so a client cannot choose the
//! address it is counted under by sending the header itself.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderValue;
use actix_web::web;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed; empty: none is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For`
    /// values in the order received. An entry that is not an address ends
    /// the walk at the last proxy that was trusted to pass it on.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a HeaderValue>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = forwarded_for
            .rev()
            .flat_map(|v| v.to_str().unwrap_or("").rsplit(','));
        for hop in hops {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, IPv6 possibly in brackets and
/// either possibly with a port (some proxies write one).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
}

/// The client's address for `req`, as text (empty when the connection's
/// peer is unknown).
pub fn client_address(req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr() else {
        return String::new();
    };
    let forwarded_for = req.headers().get_all("x-forwarded-for");
    match req.app_data::<web::Data<TrustedProxies>>() {
        Some(trusted) => trusted.client(peer.ip(), forwarded_for).to_string(),
        None => peer.ip().to_canonical().to_string(),
    }
}

/// Parses `--trusted-proxy`: an address or a network (`10.0.0.0/8`).
pub fn parse_proxy(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    if let Ok(net) = raw.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    raw.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!("{raw:?} is not an IP address or network (e.g. 10.0.0.1 or 10.0.0.0/8)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(raw: &[&str]) -> Vec<HeaderValue> {
        raw.iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect()
    }

    fn proxies(raw: &[&str]) -> TrustedProxies {
        TrustedProxies::new(raw.iter().map(|r| parse_proxy(r).unwrap()).collect())
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let none = TrustedProxies::default();
        let header = values(&["198.51.100.7"]);
        assert_eq!(
            none.client(ip("203.0.113.9"), header.iter()),
            ip("203.0.113.9")
        );
        let some = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            some.client(ip("203.0.113.9"), header.iter()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // A client-written spoof on the left is not reached.
        let header = values(&["1.1.1.1, 198.51.100.7", "192.0.2.1"]);
        assert_eq!(
            trusted.client(ip("10.1.2.3"), header.iter()),
            ip("198.51.100.7")
        );
        // Only proxies: the leftmost one is as far as anyone can tell.
        let header = values(&["10.0.0.9"]);
        assert_eq!(
            trusted.client(ip("10.1.2.3"), header.iter()),
            ip("10.0.0.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            trusted.client(ip("10.1.2.3"), values(&[]).iter()),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn garbage_ends_the_walk_at_the_last_trusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let header = values(&["198.51.100.7, not-an-address, 10.0.0.5"]);
        assert_eq!(
            trusted.client(ip("10.1.2.3"), header.iter()),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_understood() {
        let trusted = proxies(&["127.0.0.1"]);
        let header = values(&["[2001:db8::1]:4711"]);
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), header.iter()),
            ip("2001:db8::1")
        );
        let header = values(&["198.51.100.7:5000"]);
        assert_eq!(
            trusted.client(ip("127.0.0.1"), header.iter()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn bad_proxy_flags_are_named() {
        assert_eq!(parse_proxy("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(
            parse_proxy("cdn.example.com")
                .unwrap_err()
                .contains("cdn.example.com")
        );
    }
}
