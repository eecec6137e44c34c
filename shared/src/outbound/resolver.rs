//! The DNS hook of the guarded client: every host name the client connects to is resolved
//! here, and the connection is refused unless *every* address it resolves to is allowed
//! by the policy (public; or loopback under [`Policy::LocalStack`]). The addresses checked
//! are the very ones the connector then dials, so there is no window between the check and
//! the use (no DNS-rebinding TOCTOU), whatever the name resolved to when it was saved.
//!
//! Refusing the whole name when one of its addresses is internal (rather than dialling
//! only the public ones) keeps the rule simple to state: a name that points inside is not
//! called at all. The error names the range, not the address, so the owner learns nothing
//! about our network from it.
//!
//! IP literals never reach a resolver (the connector dials them as they are); the URL
//! rules (`target.rs`) refuse them before the request is built.

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address;
use super::{Policy, Refused};

/// The resolver the guarded client is built with.
pub struct GuardedResolver {
    policy: Policy,
}

impl GuardedResolver {
    pub fn new(policy: Policy) -> Self {
        Self { policy }
    }
}

/// Checks every address `host` resolved to: the first one the policy refuses refuses the
/// name.
pub fn admit(policy: Policy, host: &str, addrs: &[IpAddr]) -> Result<(), Refused> {
    if addrs.is_empty() {
        return Err(Refused::Unresolved(host.to_owned()));
    }
    for ip in addrs {
        match address::special(*ip) {
            None => {}
            Some(address::Range::Loopback) if policy == Policy::LocalStack => {}
            Some(range) => {
                return Err(Refused::Address {
                    host: host.to_owned(),
                    range,
                })
            }
        }
    }
    Ok(())
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The system resolver (getaddrinfo, on a blocking thread), as reqwest's own.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            admit(policy, &host, &ips)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::address::Range;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().unwrap()).collect()
    }

    #[test]
    fn one_internal_address_refuses_the_name() {
        assert_eq!(
            admit(Policy::Strict, "api.example.com", &ips(&["8.8.8.8"])),
            Ok(())
        );
        assert_eq!(
            admit(
                Policy::Strict,
                "api.example.com",
                &ips(&["8.8.8.8", "169.254.169.254"])
            ),
            Err(Refused::Address {
                host: "api.example.com".into(),
                range: Range::LinkLocal
            })
        );
        assert!(admit(Policy::Strict, "x.example.com", &ips(&["::ffff:10.0.0.1"])).is_err());
        assert!(admit(Policy::Strict, "x.example.com", &[]).is_err());
    }

    #[test]
    fn loopback_is_allowed_only_on_the_local_stack() {
        let lo = ips(&["127.0.0.1", "::1"]);
        assert!(admit(Policy::Strict, "localhost", &lo).is_err());
        assert_eq!(admit(Policy::LocalStack, "localhost", &lo), Ok(()));
        // The local stack still refuses everything else inside.
        assert!(admit(Policy::LocalStack, "x.example.com", &ips(&["10.0.0.1"])).is_err());
        assert!(admit(Policy::LocalStack, "x.example.com", &ips(&["fe80::1"])).is_err());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_where_it_resolves() {
        let refused = GuardedResolver::new(Policy::Strict)
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost must be refused under the strict policy");
        let refused = refused.downcast_ref::<Refused>().expect("our refusal");
        assert!(
            matches!(
                refused,
                Refused::Address {
                    range: Range::Loopback,
                    ..
                }
            ),
            "{refused:?}"
        );
        let addrs: Vec<SocketAddr> = GuardedResolver::new(Policy::LocalStack)
            .resolve("localhost".parse().unwrap())
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
