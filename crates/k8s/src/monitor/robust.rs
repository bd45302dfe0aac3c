//! The robust statistics the trend and the anomaly detector share: the median and the scale of
//! deviations around it. Both ignore how far the outliers are, which is the point: a spike moves
//! a mean and a standard deviation, it barely moves a median.

/// Turns a median absolute deviation into an estimate of the standard deviation of normal data
/// (1 / Φ⁻¹(3/4)), so scores read like the z-scores people know.
pub(super) const MAD_TO_SIGMA: f64 = 1.4826;

/// Turns a mean absolute deviation into an estimate of the standard deviation of normal data
/// (√(π/2)). Used when the MAD is zero, as Iglewicz and Hoaglin's modified z-score does.
pub(super) const MEAN_AD_TO_SIGMA: f64 = 1.2533;

/// The median of `values`, reordering them; `None` when there are none. Values must be finite
/// (the monitor drops the others before they are stored).
pub(super) fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let middle = n / 2;
    let (below, upper_middle, _) = values.select_nth_unstable_by(middle, f64::total_cmp);
    let upper_middle = *upper_middle;
    if n % 2 == 1 {
        return Some(upper_middle);
    }
    // The lower middle is the largest value of the lower half the selection left unordered.
    let lower_middle = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lower_middle + upper_middle) / 2.0)
}

/// Where a window of values sits and how widely it spreads, robustly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Spread {
    pub median: f64,
    /// The median absolute deviation from the median, unscaled.
    pub mad: f64,
    /// An estimate of the standard deviation: 1.4826 × MAD, or 1.2533 × the mean absolute
    /// deviation when more than half the values equal the median (MAD = 0) but not all do.
    pub sigma: f64,
}

/// The spread of `values`; `None` when there are none. `deviations` is a buffer it reuses.
pub(super) fn spread(values: &[f64], deviations: &mut Vec<f64>) -> Option<Spread> {
    deviations.clear();
    deviations.extend_from_slice(values);
    let median = median(deviations)?;
    deviations.clear();
    deviations.extend(values.iter().map(|value| (value - median).abs()));
    let mean_ad = deviations.iter().sum::<f64>() / deviations.len() as f64;
    let mad = self::median(deviations)?;
    let sigma = if mad > 0.0 {
        MAD_TO_SIGMA * mad
    } else {
        MEAN_AD_TO_SIGMA * mean_ad
    };
    Some(Spread { median, mad, sigma })
}
