//! The fleet's families of `/metrics`: agents by profile and health, the profiles' HPA
//! decisions, and the resource monitor's pressure levels and findings.

use super::Family;

/// Encodes the fleet's figures (unscoped callers only, like the scheduler's).
pub(super) fn encode(
    fleet: &crate::fleet::FleetGauges,
    family: &mut Family<'_, '_>,
) -> Result<(), std::fmt::Error> {
    family.gauges(
        "agents",
        "Registered agents by profile and health (unhealthy: no heartbeat within the TTL).",
        fleet
            .agents
            .iter()
            .flat_map(|(profile, healthy, unhealthy)| {
                [
                    (
                        [("profile", profile.as_str()), ("state", "healthy")],
                        *healthy,
                    ),
                    (
                        [("profile", profile.as_str()), ("state", "unhealthy")],
                        *unhealthy,
                    ),
                ]
            }),
    )?;
    family.gauges(
        "profile_desired_replicas",
        "The replica count the profile's HPA would set, as the Kubernetes controller computes it.",
        fleet
            .desired_replicas
            .iter()
            .map(|(profile, replicas)| ([("profile", profile.as_str())], *replicas)),
    )?;
    family.gauges(
        "pressure_level",
        "The resource monitor's pressure level of a pool or profile: 0 ok, 1 warning, 2 critical.",
        fleet.pressure.iter().map(|(subject, dimension, level)| {
            (
                [
                    ("subject", subject.as_str()),
                    ("dimension", dimension.as_str()),
                ],
                *level,
            )
        }),
    )?;
    family.counters(
        "monitor_findings",
        "Findings of the resource monitor, by kind (pressure, trend, anomaly).",
        fleet
            .findings
            .iter()
            .map(|(kind, count)| ([("kind", *kind)], *count)),
    )?;
    Ok(())
}
