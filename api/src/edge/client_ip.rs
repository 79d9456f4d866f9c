//! The client's address as the service records it (webhook receipts' and
//! commands' `source_ip`, request log spans): the TCP peer, unless that peer
//! is a configured proxy (`ALERTLEDGER_TRUSTED_PROXIES`), in which case
//! `X-Forwarded-For` is read from the right, past every trusted hop, to the
//! first address no trusted proxy is. An untrusted peer's header is ignored,
//! since anyone can send one.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Networks whose peers are believed about the client (empty: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`, given the request's headers.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        // Every hop appends the address it received from: read from the
        // right, across repeated headers in order.
        let hops: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            // A malformed entry ends the trusted chain: the last trusted hop
            // is the best account we have.
            let Some(address) = parse_hop(hop) else {
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

/// `192.0.2.1`, `2001:db8::1`, `192.0.2.1:4711` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated CIDRs or single addresses (`10.0.0.0/8, 192.0.2.7`).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!("trusted proxy {entry:?} is not a CIDR (10.0.0.0/8) or an address")
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// The client's address, as [`resolve`] found it (`None` where the server
/// gives no peer address, as in router unit tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(None)))
    }
}

/// Middleware: works out the client's address once per request and keeps it
/// in the request's extensions for handlers and the request span.
pub async fn resolve(
    State(proxies): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let client = peer.map(|peer| proxies.client_ip(peer, request.headers()));
    request.extensions_mut().insert(ClientIp(client));
    next.run(request).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_static(value));
        }
        headers
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let claims = headers(&["198.51.100.7"]);
        assert_eq!(
            proxies.client_ip(ip("203.0.113.5"), &claims),
            ip("203.0.113.5")
        );
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(ip("10.0.0.1"), &claims), ip("10.0.0.1"));
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right() {
        let proxies: TrustedProxies = "10.0.0.0/8, 192.0.2.9".parse().unwrap();
        // A client spoofing a first entry, then the real client, then an
        // inner proxy; the peer is the load balancer.
        let chain = headers(&["1.1.1.1, 198.51.100.7", "10.1.2.3:4711"]);
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), &chain),
            ip("198.51.100.7")
        );
        // Every hop trusted: the leftmost is the best we know.
        let all_trusted = headers(&["192.0.2.9, 10.9.9.9"]);
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), &all_trusted),
            ip("192.0.2.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            proxies.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // A malformed hop stops the walk at the last trusted one.
        let garbled = headers(&["198.51.100.7, unknown, 10.1.1.1"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &garbled), ip("10.1.1.1"));
        // IPv6, bracketed with a port, and IPv4-mapped peers.
        let v6: TrustedProxies = "2001:db8::/32".parse().unwrap();
        let chain = headers(&["[2001:db9::5]:443"]);
        assert_eq!(v6.client_ip(ip("2001:db8::1"), &chain), ip("2001:db9::5"));
        assert_eq!(
            proxies.client_ip(ip("::ffff:10.0.0.1"), &headers(&["198.51.100.7"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn proxies_parse_cidrs_and_addresses() {
        assert!("10.0.0.0/8,192.0.2.7, ::1"
            .parse::<TrustedProxies>()
            .is_ok());
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        let error = "10.0.0.0/33".parse::<TrustedProxies>().unwrap_err();
        assert!(error.contains("10.0.0.0/33"), "{error}");
    }
}
