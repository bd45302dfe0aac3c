//! The shared robust statistics.

use crate::monitor::robust::*;

fn check_median(values: &[f64], expected: Option<f64>) {
    let mut values = values.to_vec();
    assert_eq!(median(&mut values), expected, "median of {values:?}");
}

#[test]
fn medians() {
    check_median(&[], None);
    check_median(&[3.0], Some(3.0));
    check_median(&[5.0, 1.0, 3.0], Some(3.0));
    check_median(&[4.0, 1.0, 3.0, 2.0], Some(2.5));
    check_median(&[1.0, 1.0, 1.0, 100.0], Some(1.0));
    check_median(&[-2.0, 7.0, 7.0, -1.0, 0.0, 9.0], Some(3.5));
}

#[test]
fn the_spread_falls_back_to_the_mean_deviation_when_most_values_agree() {
    let mut buffer = Vec::new();
    // Four of five equal: the MAD is zero, the mean absolute deviation is 10 / 5 = 2.
    let spread = spread(&[1.0, 1.0, 11.0, 1.0, 1.0], &mut buffer).unwrap();
    assert_eq!(spread.median, 1.0);
    assert_eq!(spread.mad, 0.0);
    assert!((spread.sigma - MEAN_AD_TO_SIGMA * 2.0).abs() < 1e-12);
    // A symmetric spread: deviations 2, 1, 0, 1, 2, MAD 1.
    let spread = self::spread(&[8.0, 9.0, 10.0, 11.0, 12.0], &mut buffer).unwrap();
    assert_eq!((spread.median, spread.mad), (10.0, 1.0));
    assert!((spread.sigma - MAD_TO_SIGMA).abs() < 1e-12);
    // A constant window has no spread at all.
    let spread = self::spread(&[4.0; 6], &mut buffer).unwrap();
    assert_eq!((spread.median, spread.sigma), (4.0, 0.0));
}
