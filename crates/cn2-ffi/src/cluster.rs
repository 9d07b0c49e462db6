//! `cn2_cluster`: a handle holding cluster objects and address allocations.
//!
//! Objects are applied and deleted as manifest text (YAML or JSON, several
//! documents, `kind: List`); the plan is read as JSON, the same bytes
//! `cn2ctl plan -o json` prints for the same objects — except that a
//! handle keeps next-hop ids from one plan to the next (a route keeps its
//! next hop's id while other routes come and go), so after earlier plans
//! ids may differ from a fresh numbering. A bad object is
//! rejected alone and the rest applied; the handle's last error names every
//! rejected object with its document index and field. Allocations persist
//! for the life of the handle, so a service keeps its addresses across
//! applies.
//!
//! The handle is a [`Cluster`]: each apply or delete costs what the objects
//! it changes cost (an endpoint change touches its service only), and the
//! plan is put together when asked for.
//!
//! **Thread safety**: a `cn2_cluster` may be used from several threads at
//! once; calls on one handle are serialised by a lock inside it.

use std::os::raw::c_char;
use std::sync::Mutex;

use cn2_core::cluster::{Cluster, Report};
use cn2_core::ecmp::{Backend, Selector};
use cn2_core::plan::Plan;

use crate::boundary::{give_string, guard, guard_result, text};
use crate::cn2_result;
use crate::hotpath::{algorithm, cn2_lb_algorithm, cn2_selector};

#[derive(Default)]
struct State {
    /// The objects, allocations and load-balancer state.
    cluster: Cluster,
    /// The plan of `cluster` as it is, until the next apply or delete: a
    /// plan costs O(cluster) (about half a second at 10,000 services), and
    /// an agent asks for a selector per listener.
    plan: Option<Plan>,
    calls: u64,
    last_error: String,
}

/// An opaque handle: cluster objects and their address allocations.
pub struct cn2_cluster {
    state: Mutex<State>,
}

impl State {
    /// The plan of the objects held, computed once per change. Planning
    /// twice without a change gives the same plan (next-hop ids are kept
    /// while their next hops are in use), so the cached one is the answer.
    fn plan(&mut self) -> &Plan {
        self.plan.get_or_insert_with(|| self.cluster.plan())
    }

    /// Records the rejections and warnings of a report as the last error.
    fn record(&mut self, report: &Report) {
        self.last_error = report
            .rejected
            .iter()
            .cloned()
            .chain(report.warnings.iter().map(|w| format!("warning: {w}")))
            .collect::<Vec<_>>()
            .join("\n");
    }
}

impl cn2_cluster {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock was held leaves consistent data (every
        // mutation completes or is reverted before returning), so recover.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Creates an empty cluster. Free it with [`cn2_cluster_free`]. Returns NULL
/// only if a panic was caught.
#[unsafe(no_mangle)]
pub extern "C" fn cn2_cluster_new() -> *mut cn2_cluster {
    guard(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(cn2_cluster {
            state: Mutex::new(State::default()),
        }))
    })
}

/// Frees a cluster. NULL is accepted and does nothing.
///
/// # Safety
/// `cluster` must be NULL or a pointer from [`cn2_cluster_new`] not freed yet;
/// no other thread may use it during or after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_cluster_free(cluster: *mut cn2_cluster) {
    guard((), || {
        if !cluster.is_null() {
            // SAFETY: from cn2_cluster_new, per the caller.
            drop(unsafe { Box::from_raw(cluster) });
        }
    })
}

/// Applies manifests (`len` bytes of YAML or JSON at `manifests`, no NUL
/// needed): new objects are added, objects of the same kind, namespace and
/// name replaced. Each bad object is rejected alone, as is one that would
/// contradict the others (a VirtualNetwork naming a missing Subnet, two
/// networks of one name).
///
/// Returns `CN2_OK` when everything was applied, `CN2_PARTIAL` when some
/// objects were rejected, `CN2_PARSE_ERROR` when nothing could be applied;
/// then [`cn2_cluster_last_error`] names each rejected object.
///
/// # Safety
/// `cluster` must be a live handle; `manifests` must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_cluster_apply(
    cluster: *mut cn2_cluster,
    manifests: *const c_char,
    len: usize,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: checked for NULL; a live handle per the caller.
        let c = unsafe { cluster.as_ref() }.ok_or(cn2_result::CN2_NULL_PARAMETER)?;
        // SAFETY: `len` readable bytes per the caller.
        let text = unsafe { text(manifests, len) }?;
        let mut st = c.lock();
        st.calls += 1;
        st.plan = None;
        let file = format!("apply #{}", st.calls);
        let report = st
            .cluster
            .apply_str(&file, text)
            .map_err(|_| cn2_result::CN2_INTERNAL)?;
        st.record(&report);
        match (report.rejected.is_empty(), report.accepted) {
            (true, _) => Ok(()),
            (false, 0) => Err(cn2_result::CN2_PARSE_ERROR),
            (false, _) => Err(cn2_result::CN2_PARTIAL),
        }
    })
}

/// Deletes the objects named by manifests (kind, namespace and name are
/// used; the rest of each object is ignored). Deleting a service releases
/// its addresses. An object that is not present, or whose
/// removal would break another (a Subnet still referenced), is reported in
/// the last error and the others are deleted: `CN2_NOT_FOUND` or
/// `CN2_PARTIAL`.
///
/// # Safety
/// `cluster` must be a live handle; `manifests` must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_cluster_delete(
    cluster: *mut cn2_cluster,
    manifests: *const c_char,
    len: usize,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: checked for NULL; a live handle per the caller.
        let c = unsafe { cluster.as_ref() }.ok_or(cn2_result::CN2_NULL_PARAMETER)?;
        // SAFETY: `len` readable bytes per the caller.
        let text = unsafe { text(manifests, len) }?;
        let mut st = c.lock();
        st.calls += 1;
        st.plan = None;
        let file = format!("delete #{}", st.calls);
        let report = st
            .cluster
            .delete_str(&file, text)
            .map_err(|_| cn2_result::CN2_INTERNAL)?;
        st.record(&report);
        match (report.rejected.is_empty(), report.not_found.is_empty()) {
            (true, _) => Ok(()),
            (false, false) => Err(cn2_result::CN2_NOT_FOUND),
            (false, true) => Err(cn2_result::CN2_PARTIAL),
        }
    })
}

/// Writes the plan as JSON (the contract of `cn2ctl plan -o json`) to a new
/// NUL-terminated string at `*out` with its length (without the NUL) at
/// `*out_len`. Free the string with [`cn2_string_free`](crate::cn2_string_free).
/// Next-hop ids are kept from the handle's previous plan.
///
/// # Safety
/// `cluster` must be a live handle; `out` and `out_len` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_cluster_plan_json(
    cluster: *const cn2_cluster,
    out: *mut *mut c_char,
    out_len: *mut usize,
) -> cn2_result {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe { with_string_out(cluster, out, out_len, |st| Ok(st.plan().to_json())) }
}

/// Writes the errors (and warnings) of the handle's last apply or delete to a
/// new string at `*out` (empty when there were none). Free it with
/// [`cn2_string_free`](crate::cn2_string_free).
///
/// # Safety
/// `cluster` must be a live handle; `out` and `out_len` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cn2_cluster_last_error(
    cluster: *const cn2_cluster,
    out: *mut *mut c_char,
    out_len: *mut usize,
) -> cn2_result {
    // SAFETY: forwarded from the caller's guarantees.
    unsafe { with_string_out(cluster, out, out_len, |st| Ok(st.last_error.clone())) }
}

/// Creates a member selector (as [`cn2_selector_new`](crate::cn2_selector_new)
/// would) over the members the plan gives the listener of service
/// `namespace`/`name` for `protocol` (6, 17 or 132) and service `port`, each
/// of weight 1, in the plan's order: the bridge from a cluster's plan to the
/// data path. Free it with [`cn2_selector_free`](crate::cn2_selector_free);
/// it does not follow later changes of the cluster. The first call after a
/// change computes the plan (what [`cn2_cluster_plan_json`] costs, without
/// the JSON); the handle keeps it until the next apply or delete, so the
/// selectors of every listener cost one plan.
///
/// `CN2_NOT_FOUND` when the service does not exist or has no such listener
/// (a service without ready members has the listener, and gives a selector
/// without members); `CN2_INVALID_ARGUMENT` when the members do not fit the
/// algorithm.
///
/// # Safety
/// `cluster` must be a live handle; `namespace` and `name` must point to
/// `namespace_len` and `name_len` readable bytes of UTF-8; `out` must be
/// writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cn2_cluster_selector(
    cluster: *const cn2_cluster,
    namespace: *const c_char,
    namespace_len: usize,
    name: *const c_char,
    name_len: usize,
    protocol: u8,
    port: u16,
    algorithm_: cn2_lb_algorithm,
    out: *mut *mut cn2_selector,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: checked for NULL; a live handle per the caller.
        let c = unsafe { cluster.as_ref() }.ok_or(cn2_result::CN2_NULL_PARAMETER)?;
        // SAFETY: readable bytes per the caller.
        let (namespace, name) = unsafe { (text(namespace, namespace_len)?, text(name, name_len)?) };
        if out.is_null() {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        }
        let protocol = match protocol {
            6 => "TCP",
            17 => "UDP",
            132 => "SCTP",
            _ => return Err(cn2_result::CN2_NOT_FOUND),
        };
        let mut st = c.lock();
        let members: Vec<Backend> = st
            .plan()
            .services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| {
                lb.listeners
                    .iter()
                    .find(|l| l.protocol == protocol && l.port == port)
            })
            .ok_or(cn2_result::CN2_NOT_FOUND)?
            .pool
            .backends();
        let inner = Selector::new(algorithm(algorithm_), members)
            .map_err(|_| cn2_result::CN2_INVALID_ARGUMENT)?;
        // SAFETY: checked above.
        unsafe { *out = Box::into_raw(Box::new(cn2_selector::new(inner))) };
        Ok(())
    })
}

/// Runs `make` on the locked state of `cluster` and hands its string to C
/// through `out` / `out_len`, checking every pointer first.
///
/// # Safety
/// `cluster` must be NULL or a live handle; `out` and `out_len` NULL or writable.
unsafe fn with_string_out(
    cluster: *const cn2_cluster,
    out: *mut *mut c_char,
    out_len: *mut usize,
    make: impl FnOnce(&mut State) -> Result<String, cn2_result>,
) -> cn2_result {
    guard_result(|| {
        // SAFETY: checked for NULL; a live handle per the caller.
        let c = unsafe { cluster.as_ref() }.ok_or(cn2_result::CN2_NULL_PARAMETER)?;
        if out.is_null() || out_len.is_null() {
            return Err(cn2_result::CN2_NULL_PARAMETER);
        }
        let text = make(&mut c.lock())?;
        // SAFETY: both pointers checked above.
        unsafe { give_string(text, out, out_len) };
        Ok(())
    })
}
