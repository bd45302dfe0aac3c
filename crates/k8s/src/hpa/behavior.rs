//! `spec.behavior`: stabilization windows, scaling policies and the record of past scale
//! events that the policies' periods look back over. The defaults are upstream's: scale up at
//! once by at most max(4 pods, 100%) per 15 s; scale down after a 300 s window by at most 100%
//! per 15 s.

/// How the policies of one direction combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectPolicy {
    /// The policy allowing the largest change wins.
    Max,
    /// The policy allowing the smallest change wins.
    Min,
    /// Scaling in this direction is off.
    Disabled,
}

/// Whether a policy's value counts pods or percent of the replicas at the period's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Pods,
    Percent,
}

/// At most `value` pods (or percent) of change within any `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingPolicy {
    pub kind: PolicyKind,
    pub value: i32,
    pub period_seconds: i32,
}

/// `behavior.scaleUp` or `behavior.scaleDown` as written: unset fields take the defaults.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScalingRules {
    pub stabilization_window_seconds: Option<i32>,
    pub select_policy: Option<SelectPolicy>,
    pub policies: Option<Vec<ScalingPolicy>>,
    /// The tolerance of this direction (`HPAConfigurableTolerance`); unset, the controller's.
    pub tolerance: Option<f64>,
}

/// `spec.behavior`. An HPA with any behavior is normalized with rules and policies; one without
/// keeps the older normalization (a scale-up cap and a scale-down window).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Behavior {
    pub scale_up: Option<ScalingRules>,
    pub scale_down: Option<ScalingRules>,
}

/// Scaling rules with the defaults filled in, as the API server stores them.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedRules {
    /// `None` for scale-down means the controller's `--horizontal-pod-autoscaler-downscale-
    /// stabilization`, which the API default leaves to it.
    pub stabilization_window_seconds: Option<i32>,
    pub select_policy: SelectPolicy,
    pub policies: Vec<ScalingPolicy>,
    pub tolerance: Option<f64>,
}

/// The default scale-up rules: no window, max(4 pods, 100%) per 15 s.
pub fn default_scale_up_rules() -> ResolvedRules {
    ResolvedRules {
        stabilization_window_seconds: Some(0),
        select_policy: SelectPolicy::Max,
        policies: vec![
            ScalingPolicy {
                kind: PolicyKind::Pods,
                value: 4,
                period_seconds: 15,
            },
            ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 100,
                period_seconds: 15,
            },
        ],
        tolerance: None,
    }
}

/// The default scale-down rules: the controller's window, 100% per 15 s.
pub fn default_scale_down_rules() -> ResolvedRules {
    ResolvedRules {
        stabilization_window_seconds: None,
        select_policy: SelectPolicy::Max,
        policies: vec![ScalingPolicy {
            kind: PolicyKind::Percent,
            value: 100,
            period_seconds: 15,
        }],
        tolerance: None,
    }
}

impl ResolvedRules {
    /// The scale-up rules of `rules` over the defaults (upstream's `GenerateHPAScaleUpRules`).
    pub fn scale_up(rules: Option<&ScalingRules>) -> Self {
        default_scale_up_rules().overridden_by(rules)
    }

    /// The scale-down rules of `rules` over the defaults (`GenerateHPAScaleDownRules`).
    pub fn scale_down(rules: Option<&ScalingRules>) -> Self {
        default_scale_down_rules().overridden_by(rules)
    }

    fn overridden_by(mut self, rules: Option<&ScalingRules>) -> Self {
        let Some(rules) = rules else {
            return self;
        };
        if let Some(select_policy) = rules.select_policy {
            self.select_policy = select_policy;
        }
        if rules.stabilization_window_seconds.is_some() {
            self.stabilization_window_seconds = rules.stabilization_window_seconds;
        }
        if let Some(policies) = &rules.policies {
            self.policies = policies.clone();
        }
        if rules.tolerance.is_some() {
            self.tolerance = rules.tolerance;
        }
        self
    }

    /// The longest period any policy looks back over: how long scale events stay useful.
    pub fn longest_policy_period_seconds(&self) -> i32 {
        self.policies
            .iter()
            .map(|policy| policy.period_seconds)
            .max()
            .unwrap_or(0)
            .max(0)
    }
}

/// A past change of the replica count, by its size in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleEvent {
    /// How many replicas were added (scale-up record) or removed (scale-down record).
    pub replica_change: i32,
    pub timestamp_ms: i64,
    /// Older than every policy period: its slot may be reused for the next event.
    pub outdated: bool,
}

/// The replicas changed by `events` within the last `period_seconds`.
pub fn replicas_change_in_period(period_seconds: i32, events: &[ScaleEvent], now_ms: i64) -> i32 {
    let cutoff_ms = now_ms.saturating_sub(i64::from(period_seconds) * 1000);
    events
        .iter()
        .filter(|event| event.timestamp_ms > cutoff_ms)
        .fold(0i32, |sum, event| sum.saturating_add(event.replica_change))
}

/// The most replicas the scale-up policies allow now. Each policy starts from the replica count
/// at the beginning of its period, undoing the changes both ways since then.
pub fn scale_up_limit(
    current_replicas: i32,
    scale_up_events: &[ScaleEvent],
    scale_down_events: &[ScaleEvent],
    rules: &ResolvedRules,
    now_ms: i64,
) -> i32 {
    let periods = Periods {
        current_replicas,
        scale_up_events,
        scale_down_events,
        now_ms,
    };
    periods.limit(rules, Direction::Up, |start, policy| match policy.kind {
        PolicyKind::Pods => start.saturating_add(policy.value),
        // Rounded up, or a small percentage of few replicas would never add a pod.
        PolicyKind::Percent => {
            (f64::from(start) * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i32
        }
    })
}

/// The fewest replicas the scale-down policies allow now.
pub fn scale_down_limit(
    current_replicas: i32,
    scale_up_events: &[ScaleEvent],
    scale_down_events: &[ScaleEvent],
    rules: &ResolvedRules,
    now_ms: i64,
) -> i32 {
    let periods = Periods {
        current_replicas,
        scale_up_events,
        scale_down_events,
        now_ms,
    };
    periods.limit(rules, Direction::Down, |start, policy| match policy.kind {
        PolicyKind::Pods => start.saturating_sub(policy.value),
        // Truncated, as upstream converts the product.
        PolicyKind::Percent => (f64::from(start) * (1.0 - f64::from(policy.value) / 100.0)) as i32,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Up,
    Down,
}

/// What the policies of one direction look back on.
struct Periods<'a> {
    current_replicas: i32,
    scale_up_events: &'a [ScaleEvent],
    scale_down_events: &'a [ScaleEvent],
    now_ms: i64,
}

impl Periods<'_> {
    /// Each policy's proposal from the replica count at the start of its period, the one the
    /// select policy picks (`Min`: the smallest change, `Max`: the largest). With no policy,
    /// upstream's starting value stands: the widest bound of the direction.
    fn limit(
        &self,
        rules: &ResolvedRules,
        direction: Direction,
        propose: impl Fn(i32, &ScalingPolicy) -> i32,
    ) -> i32 {
        // Up: the smallest change is the smallest count; down: the largest count.
        let take_min = (rules.select_policy == SelectPolicy::Min) == (direction == Direction::Up);
        let (select, start): (fn(i32, i32) -> i32, i32) = match rules.select_policy {
            SelectPolicy::Disabled => return self.current_replicas,
            _ if take_min => (std::cmp::min, i32::MAX),
            _ => (std::cmp::max, i32::MIN),
        };
        rules.policies.iter().fold(start, |result, policy| {
            let period_start = period_start_replicas(
                self.current_replicas,
                policy.period_seconds,
                self.scale_up_events,
                self.scale_down_events,
                self.now_ms,
            );
            select(result, propose(period_start, policy))
        })
    }
}

fn period_start_replicas(
    current_replicas: i32,
    period_seconds: i32,
    scale_up_events: &[ScaleEvent],
    scale_down_events: &[ScaleEvent],
    now_ms: i64,
) -> i32 {
    let added = replicas_change_in_period(period_seconds, scale_up_events, now_ms);
    let removed = replicas_change_in_period(period_seconds, scale_down_events, now_ms);
    current_replicas
        .saturating_sub(added)
        .saturating_add(removed)
}

/// The most scale events kept per direction. Upstream keeps them unbounded but reuses the slot
/// of an outdated one; this cap only matters if events come faster than one per period / cap.
pub const MAX_SCALE_EVENTS: usize = 1024;

/// Records a change of `replica_change` replicas in one direction: events older than
/// `longest_policy_period_seconds` are marked outdated, and the last outdated one is replaced
/// rather than letting the record grow.
pub fn store_scale_event(
    events: &mut Vec<ScaleEvent>,
    replica_change: i32,
    longest_policy_period_seconds: i32,
    now_ms: i64,
) {
    let cutoff_ms = now_ms.saturating_sub(i64::from(longest_policy_period_seconds) * 1000);
    for event in events.iter_mut() {
        if event.timestamp_ms < cutoff_ms {
            event.outdated = true;
        }
    }
    let new_event = ScaleEvent {
        replica_change,
        timestamp_ms: now_ms,
        outdated: false,
    };
    match events.iter().rposition(|event| event.outdated) {
        Some(outdated_index) => events[outdated_index] = new_event,
        None => {
            if events.len() >= MAX_SCALE_EVENTS {
                events.remove(0);
            }
            events.push(new_event);
        }
    }
}
