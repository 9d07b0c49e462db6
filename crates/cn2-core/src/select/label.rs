//! Kubernetes label selectors: `matchLabels` AND `matchExpressions`.
//!
//! Semantics and validation follow Kubernetes (`apimachinery`'s
//! `LabelSelectorAsSelector`): every `matchLabels` pair and every expression
//! must hold; `In` and `NotIn` need at least one value, `Exists` and
//! `DoesNotExist` none; `NotIn` and `DoesNotExist` match objects without the
//! key. An empty selector (`{}`) matches everything.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::SelectError;

/// A label selector as written in a manifest.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Expressions that must all hold.
    pub match_expressions: Option<Vec<LabelRequirement>>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct LabelRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values, for `In` and `NotIn`.
    pub values: Option<Vec<String>>,
}

/// The operators of a label requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// A validated selector, ready to match label sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<(String, Operator, Vec<String>)>,
}

impl LabelSelector {
    /// Validates the selector and compiles it. `what` names the selector in
    /// errors (e.g. `selector custom-1 networkSelector`).
    pub fn compile(&self, what: &str) -> Result<Selector, SelectError> {
        let mut requirements = Vec::new();
        for (k, v) in self.match_labels.iter().flatten() {
            validate_key(what, k)?;
            validate_value(what, k, v)?;
            requirements.push((k.clone(), Operator::In, vec![v.clone()]));
        }
        for (i, r) in self.match_expressions.iter().flatten().enumerate() {
            let at = format!("{what} matchExpressions[{i}]");
            validate_key(&at, &r.key)?;
            let op = match r.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectError::Invalid {
                        at,
                        reason: format!(
                            "operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"
                        ),
                    });
                }
            };
            let values = r.values.clone().unwrap_or_default();
            match op {
                Operator::In | Operator::NotIn if values.is_empty() => {
                    return Err(SelectError::Invalid {
                        at,
                        reason: format!("operator {} needs at least one value", r.operator),
                    });
                }
                Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                    return Err(SelectError::Invalid {
                        at,
                        reason: format!("operator {} takes no values", r.operator),
                    });
                }
                _ => {}
            }
            for v in &values {
                validate_value(&at, &r.key, v)?;
            }
            requirements.push((r.key.clone(), op, values));
        }
        Ok(Selector { requirements })
    }
}

impl Selector {
    /// A selector that matches everything.
    pub fn everything() -> Selector {
        Selector {
            requirements: Vec::new(),
        }
    }

    /// A selector that requires exactly these labels.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Selector {
        Selector {
            requirements: labels
                .iter()
                .map(|(k, v)| (k.clone(), Operator::In, vec![v.clone()]))
                .collect(),
        }
    }

    /// Whether the selector matches everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|(k, op, values)| {
            let got = labels.get(k);
            match op {
                Operator::In => got.is_some_and(|v| values.contains(v)),
                Operator::NotIn => got.is_none_or(|v| !values.contains(v)),
                Operator::Exists => got.is_some(),
                Operator::DoesNotExist => got.is_none(),
            }
        })
    }
}

/// A qualified name: `[prefix/]name`, the prefix a DNS subdomain of at most
/// 253 characters, the name at most 63 characters of `[A-Za-z0-9_.-]`,
/// starting and ending alphanumeric.
fn validate_key(at: &str, key: &str) -> Result<(), SelectError> {
    let bad = |reason: String| SelectError::Invalid {
        at: at.to_string(),
        reason: format!("label key {key:?}: {reason}"),
    };
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() || p.len() > 253 {
            return Err(bad("prefix must be 1 to 253 characters".into()));
        }
        for label in p.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(bad(format!("prefix {p:?} is not a DNS subdomain")));
            }
        }
    }
    if name.is_empty() {
        return Err(bad("name part must not be empty".into()));
    }
    check_name_chars(name).map_err(bad)
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9_.-]`,
/// starting and ending alphanumeric.
fn validate_value(at: &str, key: &str, value: &str) -> Result<(), SelectError> {
    if value.is_empty() {
        return Ok(());
    }
    check_name_chars(value).map_err(|reason| SelectError::Invalid {
        at: at.to_string(),
        reason: format!("value {value:?} of label {key:?}: {reason}"),
    })
}

fn check_name_chars(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be at most 63 characters".into());
    }
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    if !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return Err("must start and end with an alphanumeric character".into());
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    {
        return Err("may contain only alphanumerics, '-', '_' and '.'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sel(yaml: &str) -> Result<Selector, SelectError> {
        let s: LabelSelector = serde_yaml_ng::from_str(yaml).unwrap();
        s.compile("test")
    }

    #[test]
    fn operators() {
        let s = sel(
            "matchLabels: {tier: web}\nmatchExpressions:\n- {key: env, operator: In, values: [prod, stage]}\n- {key: legacy, operator: DoesNotExist}\n- {key: zone, operator: NotIn, values: [z9]}\n- {key: team, operator: Exists}",
        )
        .unwrap();
        assert!(s.matches(&labels(&[("tier", "web"), ("env", "prod"), ("team", "a")])));
        assert!(!s.matches(&labels(&[("tier", "web"), ("env", "dev"), ("team", "a")])));
        assert!(!s.matches(&labels(&[("tier", "web"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[
            ("tier", "web"),
            ("env", "prod"),
            ("team", "a"),
            ("legacy", "")
        ])));
        assert!(!s.matches(&labels(&[
            ("tier", "web"),
            ("env", "prod"),
            ("team", "a"),
            ("zone", "z9")
        ])));
    }

    #[test]
    fn empty_matches_everything() {
        let s = sel("{}").unwrap();
        assert!(s.is_everything());
        assert!(s.matches(&BTreeMap::new()));
    }

    #[test]
    fn invalid_selectors_are_named() {
        let cases = [
            (
                "matchExpressions: [{key: a, operator: Equals, values: [x]}]",
                "Equals",
            ),
            (
                "matchExpressions: [{key: a, operator: In}]",
                "at least one value",
            ),
            (
                "matchExpressions: [{key: a, operator: Exists, values: [x]}]",
                "takes no values",
            ),
            ("matchLabels: {'-bad': x}", "-bad"),
            ("matchLabels: {'Example.COM/x': y}", "DNS subdomain"),
            ("matchLabels: {a: 'white space'}", "white space"),
            (
                "matchLabels: {a: 'toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongx'}",
                "63",
            ),
        ];
        for (yaml, needle) in cases {
            let err = sel(yaml).unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.contains("test"),
                "{yaml}: {err}"
            );
        }
        assert!(sel("matchLabels: {example.com/app: web-1, a: ''}").is_ok());
    }

    proptest! {
        /// NotIn is the complement of In, DoesNotExist of Exists.
        #[test]
        fn complements(v in "[a-c]", present in any::<bool>(), vals in prop::collection::vec("[a-c]", 1..3)) {
            let l = if present { labels(&[("k", v.as_str())]) } else { BTreeMap::new() };
            let mk = |op: &str, values: Option<Vec<String>>| LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![LabelRequirement { key: "k".into(), operator: op.into(), values }]),
            }.compile("p").unwrap();
            prop_assert_ne!(mk("In", Some(vals.clone())).matches(&l), mk("NotIn", Some(vals)).matches(&l));
            prop_assert_ne!(mk("Exists", None).matches(&l), mk("DoesNotExist", None).matches(&l));
        }
    }
}
