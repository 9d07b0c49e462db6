//! The CNI verbs of `cn2-ipam`.
//!
//! * ADD reserves one address per range set (idempotently for the same
//!   container ID and interface) and returns them with the gateways, the
//!   configured routes and the DNS of `resolvConf`.
//! * DEL releases them; releasing nothing succeeds.
//! * CHECK verifies the reservation is complete and, given a `prevResult`,
//!   that it lists every reserved address.
//! * GC releases every reservation not in the valid attachment list.
//! * STATUS answers code 50 when a range set has no free address or the
//!   store cannot be used (no ADD could succeed). It never answers 51
//!   ("existing containers may have limited connectivity"): the addresses
//!   of existing containers do not depend on the store.

use std::time::Duration;

use cn2_core::cni::{CniError, CniResult, IpConfig, IpNet, Plugin, Request};

use crate::config::IpamConfig;
use crate::store::{Holding, NetworkStore, Owner, PendingSync};

/// The plugin.
#[derive(Debug, Default, Clone)]
pub struct IpamPlugin {
    /// Pause between the steps of an ADD (test-only; see [`crate::STEP_DELAY_ENV`]).
    pub step_delay: Option<Duration>,
}

fn owner(req: &Request) -> Result<Owner, CniError> {
    Owner::new(req.env.container_id(), req.env.ifname())
        .map_err(|e| CniError::env(e.to_string(), ""))
}

fn open(cfg: &IpamConfig, req: &Request, create: bool) -> Result<Option<NetworkStore>, CniError> {
    Ok(NetworkStore::open(&cfg.data_dir, &req.config.name, create)?)
}

impl IpamPlugin {
    /// ADD with the reservation not yet durable: the result and the sync
    /// that makes it so, which must succeed before the result is answered
    /// (for an embedding plugin that has other work to do meanwhile; see
    /// [`NetworkStore::close_deferred`]).
    pub fn add_deferred(&mut self, req: &Request) -> Result<(CniResult, PendingSync), CniError> {
        let cfg = IpamConfig::from_request(req)?;
        let owner = owner(req)?;
        let mut store = open(&cfg, req, true)?.expect("created");
        store.set_step_delay(self.step_delay);
        let addrs = store.add(&owner, &cfg.sets, &cfg.requested)?;
        let sync = store.close_deferred()?;
        Ok((result_of(&cfg, &addrs), sync))
    }
}

/// The ADD result for the addresses reserved from `cfg`'s range sets.
fn result_of(cfg: &IpamConfig, addrs: &[std::net::IpAddr]) -> CniResult {
    let mut result = CniResult {
        routes: cfg.routes.clone(),
        dns: cfg.dns.clone().unwrap_or_default(),
        ..CniResult::default()
    };
    for (addr, set) in addrs.iter().zip(&cfg.sets) {
        let range = set.range_for(addr).expect("allocated from the set");
        result.ips.push(IpConfig {
            interface: None,
            address: IpNet::new(*addr, range.subnet.prefix()).expect("prefix fits"),
            gateway: Some(range.gateway),
        });
    }
    result
}

impl Plugin for IpamPlugin {
    fn add(&mut self, req: &Request) -> Result<CniResult, CniError> {
        let (result, sync) = self.add_deferred(req)?;
        sync.wait()?;
        Ok(result)
    }

    fn del(&mut self, req: &Request) -> Result<(), CniError> {
        let cfg = IpamConfig::from_request(req)?;
        let owner = owner(req)?;
        if let Some(mut store) = open(&cfg, req, false)? {
            store.release(&owner)?;
            store.close()?;
        }
        Ok(())
    }

    fn check(&mut self, req: &Request) -> Result<(), CniError> {
        let cfg = IpamConfig::from_request(req)?;
        let owner = owner(req)?;
        let missing = || CniError::UnknownContainer {
            msg: format!(
                "no address reservation for container {} interface {} in network {}",
                owner.container_id(),
                owner.ifname(),
                req.config.name
            ),
            details: String::new(),
        };
        let store = open(&cfg, req, false)?.ok_or_else(missing)?;
        let ips = match store.holding(&owner)? {
            Holding::Absent => return Err(missing()),
            Holding::Damaged(linked) => {
                return Err(CniError::Plugin {
                    code: crate::CODE_RESERVATION_DAMAGED,
                    msg: format!(
                        "the reservation of container {} interface {} is incomplete (still linked: {linked:?})",
                        owner.container_id(),
                        owner.ifname()
                    ),
                    details: String::new(),
                });
            }
            Holding::Held(ips) => ips,
        };
        for (addr, set) in ips.iter().zip(&cfg.sets) {
            if set.range_for(addr).is_none() {
                return Err(CniError::config(
                    format!(
                        "reserved address {addr} is no longer in range set {}",
                        set.describe()
                    ),
                    "",
                ));
            }
        }
        if let Some(prev) = &req.config.prev_result {
            for addr in &ips {
                if !prev.ips.iter().any(|c| c.address.addr == *addr) {
                    return Err(CniError::config(
                        format!("reserved address {addr} is missing from prevResult"),
                        "",
                    ));
                }
            }
        }
        Ok(())
    }

    fn gc(&mut self, req: &Request) -> Result<(), CniError> {
        let cfg = IpamConfig::from_request(req)?;
        let valid = req.config.valid_attachments.clone().ok_or_else(|| {
            CniError::config(
                "GC needs cni.dev/valid-attachments (or cni.dev/attachments)",
                "",
            )
        })?;
        if let Some(mut store) = open(&cfg, req, false)? {
            store.gc(|o| {
                valid
                    .iter()
                    .any(|a| a.container_id == o.container_id() && a.ifname == o.ifname())
            })?;
            store.close()?;
        }
        Ok(())
    }

    fn status(&mut self, req: &Request) -> Result<(), CniError> {
        let cfg = IpamConfig::from_request(req)?;
        // A store that cannot be used fails every ADD: not available.
        let unusable = |e: crate::store::StoreError| {
            CniError::not_available(format!("the reservation store is unusable: {e}"), "")
        };
        let Some(store) =
            NetworkStore::open(&cfg.data_dir, &req.config.name, false).map_err(unusable)?
        else {
            return Ok(());
        };
        let used = store.usage(&cfg.sets).map_err(unusable)?;
        for (set, used) in cfg.sets.iter().zip(used) {
            if used >= set.capacity() {
                return Err(CniError::not_available(
                    format!(
                        "range set {} is exhausted: {used} of {} addresses reserved",
                        set.describe(),
                        set.capacity()
                    ),
                    "",
                ));
            }
        }
        Ok(())
    }
}
