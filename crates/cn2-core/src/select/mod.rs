//! Label selectors and the external-network selection of LoadBalancer
//! services.
//!
//! * [`label`] — Kubernetes label selectors with their validation;
//! * [`external`] — which external virtual network a LoadBalancer service
//!   draws its address from: service and namespace annotations, the
//!   Kubemanager's named selectors, and the `default-external` selector.

pub mod external;
pub mod label;

pub use external::{CandidateKind, ExternalSelectors, Selection};
pub use label::{LabelRequirement, LabelSelector, Operator, Selector};

/// Errors of selector validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A selector is malformed.
    #[error("{at}: {reason}")]
    Invalid {
        /// Which selector (and expression) is wrong.
        at: String,
        /// What is wrong.
        reason: String,
    },
}
