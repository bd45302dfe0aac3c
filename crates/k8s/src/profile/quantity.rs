//! Kubernetes resource quantities: `2`, `500m`, `8Gi`, `10G`, read into millicores and bytes
//! and written back in the shortest exact form.

/// Reads a CPU quantity (`2`, `1.5`, `500m`) as millicores.
pub fn parse_cpu(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, scale) = match text.strip_suffix('m') {
        Some(number) => (number, 1.0),
        None => (text, 1000.0),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a CPU quantity (like 2, 1.5 or 500m)"))?;
    let millicores = value * scale;
    if !millicores.is_finite() || !(0.0..=1e12).contains(&millicores) {
        return Err(format!("`{text}` is out of range for a CPU quantity"));
    }
    if millicores.fract() != 0.0 {
        return Err(format!("`{text}` is finer than a millicore"));
    }
    Ok(millicores as u64)
}

const BINARY: [(&str, u64); 6] = [
    ("Ei", 1 << 60),
    ("Pi", 1 << 50),
    ("Ti", 1 << 40),
    ("Gi", 1 << 30),
    ("Mi", 1 << 20),
    ("Ki", 1 << 10),
];
const DECIMAL: [(&str, u64); 6] = [
    ("E", 1_000_000_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("T", 1_000_000_000_000),
    ("G", 1_000_000_000),
    ("M", 1_000_000),
    ("k", 1_000),
];

/// Reads a memory or storage quantity (`8Gi`, `512Mi`, `10G`, `1000`) as bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = BINARY
        .iter()
        .chain(DECIMAL.iter())
        .find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|number| (number, *unit)))
        .unwrap_or((text, 1));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a byte quantity (like 8Gi, 512Mi or 10G)"))?;
    let bytes = value * unit as f64;
    if !bytes.is_finite() || !(0.0..=9.0e18).contains(&bytes) {
        return Err(format!("`{text}` is out of range for a byte quantity"));
    }
    Ok(bytes.round() as u64)
}

/// Millicores as Kubernetes writes them: whole cores when exact, else millicores.
pub fn format_cpu(millicores: u64) -> String {
    if millicores.is_multiple_of(1000) {
        (millicores / 1000).to_string()
    } else {
        format!("{millicores}m")
    }
}

/// Bytes in the largest binary unit that divides them exactly (`8Gi`, `1536Mi`), else bytes.
pub fn format_bytes(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    for (suffix, unit) in BINARY {
        if bytes.is_multiple_of(unit) {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_and_write_as_kubernetes_does() {
        assert_eq!(parse_cpu("2").unwrap(), 2000);
        assert_eq!(parse_cpu("1.5").unwrap(), 1500);
        assert_eq!(parse_cpu("250m").unwrap(), 250);
        assert!(parse_cpu("0.0001").is_err());
        assert!(parse_cpu("two").is_err());
        assert_eq!(parse_bytes("8Gi").unwrap(), 8 << 30);
        assert_eq!(parse_bytes("512Mi").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("10G").unwrap(), 10_000_000_000);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("8 GB").is_err());
        assert_eq!(format_cpu(2000), "2");
        assert_eq!(format_cpu(250), "250m");
        assert_eq!(format_bytes(8 << 30), "8Gi");
        assert_eq!(format_bytes(1536 << 20), "1536Mi");
        assert_eq!(format_bytes(1000), "1000");
        for text in ["4", "16Gi", "100m", "50Gi"] {
            let round = if text.ends_with('i') {
                format_bytes(parse_bytes(text).unwrap())
            } else {
                format_cpu(parse_cpu(text).unwrap())
            };
            assert_eq!(round, text);
        }
    }
}
