//! `purser monitoring render`: the Prometheus rule file, the same groups as a Prometheus
//! Operator `PrometheusRule` object, and the Grafana board, from the templates in
//! `crates/server/monitoring/` with this deployment's metric prefix, forecast lead time and
//! Prometheus job filled in. The rules' unit tests (`rules_test.yml`, run by promtool) and the
//! runbooks (`docs/monitoring.md`) live beside them.

const RULES: &str = include_str!("../monitoring/rules.yml");
const GRAFANA: &str = include_str!("../monitoring/grafana.json");

/// What the templates are filled with.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The metric prefix (`[metrics] prefix`).
    pub prefix: String,
    /// Alert this long before a forecast exhaustion (`[manager] lead_time_ms`).
    pub lead_seconds: u64,
    /// The `job` label Prometheus gives Purser's targets.
    pub job: String,
    /// The namespace of the `PrometheusRule` object, if it names one.
    pub namespace: Option<String>,
}

/// The three files, by the names `render --out` writes them under.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub rules: String,
    pub prometheus_rule: String,
    pub grafana: String,
}

impl Rendered {
    pub fn files(&self) -> [(&'static str, &str); 3] {
        [
            ("rules.yml", &self.rules),
            ("prometheus-rule.yaml", &self.prometheus_rule),
            ("grafana-dashboard.json", &self.grafana),
        ]
    }
}

/// Checks a job label and a namespace make valid YAML and label values.
fn check(settings: &Settings) -> Result<(), String> {
    let plain = |text: &str| {
        !text.is_empty()
            && text.len() <= 63
            && text
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '.')
    };
    if !plain(&settings.job) {
        return Err(format!(
            "job {:?} must be 1 to 63 of [A-Za-z0-9._-]",
            settings.job
        ));
    }
    if let Some(namespace) = &settings.namespace
        && !(plain(namespace) && namespace.chars().all(|ch| ch != '_' && ch != '.'))
    {
        return Err(format!(
            "namespace {namespace:?} must be 1 to 63 of [a-z0-9-]"
        ));
    }
    Ok(())
}

pub fn render(settings: &Settings) -> Result<Rendered, String> {
    check(settings)?;
    let fill = |template: &str| {
        template
            .replace("{{prefix}}", &settings.prefix)
            .replace("{{lead_seconds}}", &settings.lead_seconds.to_string())
            .replace("{{job}}", &settings.job)
    };
    let rules = fill(RULES);
    let mut prometheus_rule = String::from(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: purser\n",
    );
    if let Some(namespace) = &settings.namespace {
        prometheus_rule.push_str(&format!("  namespace: {namespace}\n"));
    }
    prometheus_rule.push_str("  labels:\n    app.kubernetes.io/name: purser\nspec:\n");
    // The rule file's groups, indented under `spec` (its comments stay out).
    for line in rules.lines().skip_while(|line| line.starts_with('#')) {
        if line.is_empty() {
            prometheus_rule.push('\n');
        } else {
            prometheus_rule.push_str("  ");
            prometheus_rule.push_str(line);
            prometheus_rule.push('\n');
        }
    }
    Ok(Rendered {
        rules,
        prometheus_rule,
        grafana: fill(GRAFANA),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            prefix: "acme_purser_".into(),
            lead_seconds: 90,
            job: "purser-prod".into(),
            namespace: Some("monitoring".into()),
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        let rendered = render(&settings()).unwrap();
        for (name, text) in rendered.files() {
            assert!(!text.contains("{{"), "{name} keeps a placeholder");
        }
        assert!(rendered.rules.contains("acme_purser_account_level"));
        assert!(rendered.rules.contains("< 90"));
        assert!(rendered.rules.contains(r#"up{job="purser-prod"}"#));
        let board: serde_json::Value = serde_json::from_str(&rendered.grafana).unwrap();
        assert!(board["panels"].as_array().unwrap().len() >= 10);
    }

    #[test]
    fn the_operator_object_holds_the_same_groups() {
        let rendered = render(&settings()).unwrap();
        let object = &rendered.prometheus_rule;
        assert!(object.starts_with("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n"));
        assert!(object.contains("  namespace: monitoring\n"));
        assert!(object.contains("\nspec:\n  groups:\n"));
        let alerts = |text: &str| text.matches("- alert: ").count();
        assert!(alerts(&rendered.rules) >= 9);
        assert_eq!(alerts(object), alerts(&rendered.rules));
    }

    #[test]
    fn bad_names_are_refused() {
        let mut bad = settings();
        bad.job = "a\"b".into();
        assert!(render(&bad).unwrap_err().contains("job"));
        let mut bad = settings();
        bad.namespace = Some("Not_Valid".into());
        assert!(render(&bad).unwrap_err().contains("namespace"));
    }
}
