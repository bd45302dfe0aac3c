//! Bucketed histograms of usage (upstream's `util/histogram.go` and `util/histogram_options.go`).
//!
//! A histogram keeps one weight per bucket and no samples, so its memory is fixed however long the
//! history. A percentile is answered with the end of the bucket it falls in, which is why the VPA's
//! recommendations move in steps of about 5 % (the growth of upstream's exponential buckets).

use std::collections::BTreeMap;

use super::VpaError;

/// The most buckets a histogram may have. Upstream's CPU and memory histograms have 176 each; the
/// limit only stops a mistaken option (a bucket size of a nanocore) from allocating gigabytes.
pub const MAX_BUCKETS: usize = 100_000;

/// The weight given to the heaviest bucket when a histogram is saved: weights are stored as
/// integers relative to it, so a bucket lighter than 1/20000 of it is dropped (upstream's
/// `MaxCheckpointWeight`).
pub const MAX_CHECKPOINT_WEIGHT: u32 = 10_000;

/// How values map to buckets: linear buckets of one size, or exponential buckets each `ratio`
/// times wider than the one before. Both start at 0, and the last bucket has no upper end.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramOptions {
    scheme: Scheme,
    n_buckets: usize,
    epsilon: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scheme {
    Linear { bucket_size: f64 },
    Exponential { first_bucket_size: f64, ratio: f64 },
}

impl HistogramOptions {
    /// Buckets of `bucket_size` from 0, enough that the last one starts at or above `max_value`.
    /// A bucket lighter than `epsilon` counts as empty. All three must be positive.
    pub fn linear(max_value: f64, bucket_size: f64, epsilon: f64) -> Result<Self, VpaError> {
        // Written as `!(x > 0)` so that NaN is rejected too.
        if !(max_value > 0.0 && bucket_size > 0.0 && epsilon > 0.0) {
            return Err(VpaError::InvalidHistogramOptions {
                reason: "max value, bucket size and epsilon must be positive",
            });
        }
        let n_buckets = checked_bucket_count((max_value / bucket_size).ceil() + 1.0)?;
        Ok(Self {
            scheme: Scheme::Linear { bucket_size },
            n_buckets,
            epsilon,
        })
    }

    /// Buckets growing by `ratio`: bucket `n` is `first_bucket_size * ratio^n` wide, so bucket
    /// `n >= 1` starts at `first_bucket_size * (ratio^n - 1) / (ratio - 1)`. The last bucket
    /// starts at or above `max_value`. Requires `ratio > 1` and the other three positive.
    pub fn exponential(
        max_value: f64,
        first_bucket_size: f64,
        ratio: f64,
        epsilon: f64,
    ) -> Result<Self, VpaError> {
        if !(max_value > 0.0 && first_bucket_size > 0.0 && ratio > 1.0 && epsilon > 0.0) {
            return Err(VpaError::InvalidHistogramOptions {
                reason: "max value, first bucket size and epsilon must be positive, ratio above 1",
            });
        }
        let n_buckets = checked_bucket_count(
            log(ratio, max_value * (ratio - 1.0) / first_bucket_size + 1.0).ceil() + 1.0,
        )?;
        Ok(Self {
            scheme: Scheme::Exponential {
                first_bucket_size,
                ratio,
            },
            n_buckets,
            epsilon,
        })
    }

    /// The number of buckets.
    pub fn n_buckets(&self) -> usize {
        self.n_buckets
    }

    /// The weight below which a bucket counts as empty.
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// The bucket `value` falls in; values outside the range go to the first or the last bucket.
    pub fn find_bucket(&self, value: f64) -> usize {
        let last = self.n_buckets - 1;
        match self.scheme {
            Scheme::Linear { bucket_size } => {
                // The float-to-int cast saturates (and maps NaN to 0), so a huge or negative value
                // lands in the last or the first bucket.
                let bucket = (value / bucket_size) as i64;
                bucket.clamp(0, last as i64) as usize
            }
            Scheme::Exponential {
                first_bucket_size,
                ratio,
            } => {
                if value < first_bucket_size {
                    return 0;
                }
                // The inverse of `bucket_start`.
                let bucket = log(ratio, value * (ratio - 1.0) / first_bucket_size + 1.0) as usize;
                bucket.min(last)
            }
        }
    }

    /// Where bucket `bucket` starts.
    ///
    /// # Panics
    /// If `bucket` is not below [`Self::n_buckets`]: callers only pass buckets they found.
    pub fn bucket_start(&self, bucket: usize) -> f64 {
        assert!(
            bucket < self.n_buckets,
            "bucket {bucket} out of range [0..{}]",
            self.n_buckets - 1
        );
        match self.scheme {
            Scheme::Linear { bucket_size } => bucket as f64 * bucket_size,
            Scheme::Exponential { .. } if bucket == 0 => 0.0,
            Scheme::Exponential {
                first_bucket_size,
                ratio,
            } => first_bucket_size * (ratio.powf(bucket as f64) - 1.0) / (ratio - 1.0),
        }
    }
}

fn checked_bucket_count(n_buckets: f64) -> Result<usize, VpaError> {
    if n_buckets.is_nan() || n_buckets > MAX_BUCKETS as f64 {
        return Err(VpaError::TooManyBuckets {
            n_buckets,
            limit: MAX_BUCKETS,
        });
    }
    Ok(n_buckets as usize)
}

/// The logarithm of `x` in base `base`, computed as upstream does so bucket edges agree.
fn log(base: f64, x: f64) -> f64 {
    x.ln() / base.ln()
}

/// A histogram saved compactly: bucket weights as integers relative to the heaviest bucket (which
/// gets [`MAX_CHECKPOINT_WEIGHT`]), and the exact total weight (upstream's `HistogramCheckpoint`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramCheckpoint {
    /// The decaying histogram's reference time; 0 for a plain histogram.
    pub reference_timestamp_ms: i64,
    /// Bucket index to relative weight. Signed, because a checkpoint read from outside may carry
    /// any integer, and loading rejects the ones the histogram does not have.
    pub bucket_weights: BTreeMap<i64, u32>,
    pub total_weight: f64,
}

/// An approximate distribution: the total weight of the samples in each bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    options: HistogramOptions,
    bucket_weights: Vec<f64>,
    total_weight: f64,
    // Invariant: `min_bucket` is the first bucket at or above epsilon, or the last bucket when
    // there is none; `max_bucket` is the last such bucket, or 0. Every bucket outside
    // `min_bucket..=max_bucket` is below epsilon, so loops only visit that range.
    min_bucket: usize,
    max_bucket: usize,
}

impl Histogram {
    /// An empty histogram with the given buckets.
    pub fn new(options: HistogramOptions) -> Self {
        let n_buckets = options.n_buckets();
        Self {
            options,
            bucket_weights: vec![0.0; n_buckets],
            total_weight: 0.0,
            min_bucket: n_buckets - 1,
            max_bucket: 0,
        }
    }

    /// The bucketing scheme.
    pub fn options(&self) -> &HistogramOptions {
        &self.options
    }

    /// The weight of all samples added and not subtracted.
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// The weight held by one bucket (0 for a bucket outside the histogram).
    pub fn bucket_weight(&self, bucket: usize) -> f64 {
        self.bucket_weights.get(bucket).copied().unwrap_or(0.0)
    }

    /// Adds a sample of `value` with `weight`.
    ///
    /// # Panics
    /// If `weight` is negative: a negative weight is a caller's bug, not a sample.
    pub fn add_sample(&mut self, value: f64, weight: f64) {
        assert!(
            weight >= 0.0,
            "sample weight must be non-negative, got {weight}"
        );
        let bucket = self.options.find_bucket(value);
        self.bucket_weights[bucket] += weight;
        self.total_weight += weight;
        if self.bucket_weights[bucket] >= self.options.epsilon() {
            self.min_bucket = self.min_bucket.min(bucket);
            self.max_bucket = self.max_bucket.max(bucket);
        }
    }

    /// Removes a sample added before. Weights never go below zero: what would fall under epsilon
    /// is set to zero, so float residue cannot keep a bucket alive.
    ///
    /// # Panics
    /// If `weight` is negative.
    pub fn subtract_sample(&mut self, value: f64, weight: f64) {
        assert!(
            weight >= 0.0,
            "sample weight must be non-negative, got {weight}"
        );
        let bucket = self.options.find_bucket(value);
        let epsilon = self.options.epsilon();
        self.total_weight = subtract_to_epsilon(self.total_weight, weight, epsilon);
        self.bucket_weights[bucket] =
            subtract_to_epsilon(self.bucket_weights[bucket], weight, epsilon);
        self.update_min_and_max_bucket();
    }

    /// Adds every sample of `other`.
    ///
    /// # Panics
    /// If the two histograms have different options: their buckets would not line up.
    pub fn merge(&mut self, other: &Histogram) {
        assert_eq!(
            self.options, other.options,
            "cannot merge histograms with different options"
        );
        for bucket in other.min_bucket..=other.max_bucket {
            self.bucket_weights[bucket] += other.bucket_weights[bucket];
        }
        self.total_weight += other.total_weight;
        self.min_bucket = self.min_bucket.min(other.min_bucket);
        self.max_bucket = self.max_bucket.max(other.max_bucket);
    }

    /// The value below which a `percentile` share (0.0 to 1.0) of the weight lies, answered with
    /// the end of the bucket where the running weight reaches it (or the start of the last bucket,
    /// which has no end). A percentile below 0 gives the end of the lowest non-empty bucket, one
    /// above 1 the end of the highest. An empty histogram answers 0.
    pub fn percentile(&self, percentile: f64) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let threshold = percentile * self.total_weight;
        let mut partial_sum = 0.0;
        let mut bucket = self.min_bucket;
        while bucket < self.max_bucket {
            partial_sum += self.bucket_weights[bucket];
            if partial_sum >= threshold {
                break;
            }
            bucket += 1;
        }
        if bucket < self.options.n_buckets() - 1 {
            self.options.bucket_start(bucket + 1)
        } else {
            self.options.bucket_start(bucket)
        }
    }

    /// True when no bucket holds at least epsilon.
    pub fn is_empty(&self) -> bool {
        self.bucket_weights[self.min_bucket] < self.options.epsilon()
    }

    /// True when both histograms have the same options, the same non-empty range, and bucket
    /// weights within 1e-15 of each other (upstream's `Equals`, used to compare a merge with the
    /// same samples added one by one).
    pub fn approx_eq(&self, other: &Histogram) -> bool {
        self.options == other.options
            && self.min_bucket == other.min_bucket
            && self.max_bucket == other.max_bucket
            && (self.min_bucket..=self.max_bucket)
                .all(|b| (self.bucket_weights[b] - other.bucket_weights[b]).abs() <= 1e-15)
    }

    /// Multiplies every weight by `factor`, which leaves the percentiles unchanged; buckets that
    /// fall under epsilon become empty. The decaying histogram uses it to move its reference time.
    pub(crate) fn scale(&mut self, factor: f64) {
        assert!(
            factor >= 0.0,
            "scale factor must be non-negative, got {factor}"
        );
        for bucket in self.min_bucket..=self.max_bucket {
            self.bucket_weights[bucket] *= factor;
        }
        self.total_weight *= factor;
        self.update_min_and_max_bucket();
    }

    /// Saves the histogram with integer weights relative to its heaviest bucket; buckets that round
    /// to zero are left out.
    pub fn save_to_checkpoint(&self) -> HistogramCheckpoint {
        let mut checkpoint = HistogramCheckpoint {
            total_weight: self.total_weight,
            ..Default::default()
        };
        let non_empty = self.min_bucket..=self.max_bucket;
        let max_weight = non_empty
            .clone()
            .map(|b| self.bucket_weights[b])
            .fold(0.0_f64, f64::max);
        let ratio = f64::from(MAX_CHECKPOINT_WEIGHT) / max_weight;
        for bucket in non_empty {
            let weight = round_half_up(self.bucket_weights[bucket] * ratio) as u32;
            if weight > 0 {
                checkpoint.bucket_weights.insert(bucket as i64, weight);
            }
        }
        checkpoint
    }

    /// Adds the samples of a checkpoint to this histogram, spreading its total weight over its
    /// buckets in proportion to their integer weights. Nothing is changed when it fails.
    pub fn load_from_checkpoint(
        &mut self,
        checkpoint: &HistogramCheckpoint,
    ) -> Result<(), VpaError> {
        if checkpoint.total_weight < 0.0 {
            return Err(VpaError::NegativeCheckpointWeight {
                total_weight: checkpoint.total_weight,
            });
        }
        let n_buckets = self.options.n_buckets();
        let mut sum: u64 = 0;
        for (&bucket, &weight) in &checkpoint.bucket_weights {
            if bucket < 0 || bucket >= n_buckets as i64 {
                return Err(VpaError::CheckpointBucketOutOfRange { bucket, n_buckets });
            }
            sum += u64::from(weight);
        }
        if sum == 0 {
            return Ok(());
        }
        let ratio = checkpoint.total_weight / sum as f64;
        for (&bucket, &weight) in &checkpoint.bucket_weights {
            let bucket = bucket as usize;
            self.min_bucket = self.min_bucket.min(bucket);
            self.max_bucket = self.max_bucket.max(bucket);
            self.bucket_weights[bucket] += f64::from(weight) * ratio;
        }
        self.total_weight += checkpoint.total_weight;
        // Rounding can leave the lightest saved bucket just under epsilon once reloaded
        // (kubernetes/autoscaler#7726); dropping it from the range keeps `is_empty` honest.
        self.update_min_and_max_bucket();
        Ok(())
    }

    fn update_min_and_max_bucket(&mut self) {
        let epsilon = self.options.epsilon();
        let last = self.options.n_buckets() - 1;
        while self.bucket_weights[self.min_bucket] < epsilon && self.min_bucket < last {
            self.min_bucket += 1;
        }
        while self.bucket_weights[self.max_bucket] < epsilon && self.max_bucket > 0 {
            self.max_bucket -= 1;
        }
    }
}

fn subtract_to_epsilon(value: f64, subtrahend: f64, epsilon: f64) -> f64 {
    let difference = value - subtrahend;
    if difference < epsilon {
        0.0
    } else {
        difference
    }
}

/// Rounds halves up, as upstream's `round` (`floor(x + 0.5)`) does.
pub(crate) fn round_half_up(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}
