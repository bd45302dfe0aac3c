//! Kubernetes for Purser: what the Kubernetes controllers would decide, computed the way they
//! compute it, so a platform team can trust Purser's recommendations as it trusts the cluster's.
//!
//! * [`hpa`]: the HorizontalPodAutoscaler's replica calculation (the ratio rule with its
//!   tolerance, pods not ready or without metrics, several metrics) and its normalization
//!   (min/max, `behavior` with stabilization windows and scaling policies).
//! * [`vpa`]: the VerticalPodAutoscaler recommender: decaying histograms of usage, percentile
//!   estimators with a safety margin and confidence multipliers, memory from peaks and OOMs.
//! * [`monitor`]: pressure levels with a duration before they fire, the time until a threshold
//!   is crossed, and a robust anomaly detector.
//! * [`profile`]: agent profiles (`[[profile]]`): requests, limits, storage, priority, replica
//!   bounds, scaling targets and budget defaults, with the Kubernetes guide's role defaults.
//! * [`manifests`]: the Kubernetes objects `purser k8s render` writes for the profiles, built
//!   from k8s-openapi's types (serde types for the CRDs) and written as YAML.
//!
//! The crate is pure and synchronous: time is passed in as milliseconds, and nothing reads the
//! clock or touches files (the tests read `../shared/data`). Its dependencies are serde (the
//! profile's configuration shape) and k8s-openapi with serde_json (the manifests).

pub mod hpa;
pub mod manifests;
pub mod monitor;
pub mod profile;
pub mod vpa;
