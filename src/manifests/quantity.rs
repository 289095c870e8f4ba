//! Kubernetes resource quantities (`100m`, `64Mi`, `1.5G`), parsed exactly for comparisons.
use rust_decimal::Decimal;

/// The value of a quantity in base units (cores or bytes), exactly.
pub fn parse(q: &str) -> Result<Decimal, String> {
    let bad = || {
        format!(
            "{q:?} is not a Kubernetes quantity: use a number with an optional suffix such as \
             100m, 0.5, 64Mi or 1Gi"
        )
    };
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let value: Decimal = number.parse().map_err(|_| bad())?;
    let factor: Decimal = match suffix {
        "" => Decimal::ONE,
        "m" => Decimal::new(1, 3),
        "k" => Decimal::from(1_000u64),
        "M" => Decimal::from(1_000_000u64),
        "G" => Decimal::from(1_000_000_000u64),
        "T" => Decimal::from(1_000_000_000_000u64),
        "Ki" => Decimal::from(1u64 << 10),
        "Mi" => Decimal::from(1u64 << 20),
        "Gi" => Decimal::from(1u64 << 30),
        "Ti" => Decimal::from(1u64 << 40),
        _ => return Err(bad()),
    };
    value.checked_mul(factor).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes_exactly() {
        assert_eq!(parse("100m").unwrap(), Decimal::new(1, 1));
        assert_eq!(parse("64Mi").unwrap(), Decimal::from(64u64 << 20));
        assert_eq!(parse("1G").unwrap(), Decimal::from(1_000_000_000u64));
        assert!(parse("64MB").is_err());
        assert!(parse("").is_err());
        assert!(parse("-1").is_err());
    }
}
