//! Tables for people: account statuses as aligned columns.

use purser_core::amount::group_digits;
use purser_server::wire::AmountMap;
use purser_server::wire::accounts::AccountOut;

/// Renders rows as columns, the first row being the header; numbers align right.
pub fn render(rows: &[Vec<String>]) -> String {
    let n_columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n_columns)
        .map(|col| {
            rows.iter()
                .map(|row| row.get(col).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (col, cell) in row.iter().enumerate() {
            let numeric = cell.chars().next().is_some_and(|c| c.is_ascii_digit()) && col > 0;
            let pad = widths[col].saturating_sub(cell.chars().count());
            if numeric {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Amounts as `tokens=1,000 cost=2,500`, or `-` when there are none.
pub fn amounts(map: &AmountMap) -> String {
    if map.is_empty() {
        return "-".into();
    }
    map.iter()
        .map(|(dim, value)| format!("{}={}", short_dim(dim), group_digits(*value)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn short_dim(dim: &str) -> &str {
    match dim {
        "cost_micros" => "cost",
        other => other,
    }
}

/// One row per account: limits, spent, reserved, remaining, fraction, level, action.
pub fn accounts(accounts: &[AccountOut]) -> String {
    let mut rows = vec![
        [
            "ACCOUNT",
            "LIMITS",
            "SPENT",
            "RESERVED",
            "REMAINING",
            "FRACTION",
            "LEVEL",
            "ACTION",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for account in accounts {
        let action_text = match account.action.rate {
            Some(rate) => format!("{} {rate}", account.action.kind),
            None => account.action.kind.clone(),
        };
        let fired = match &account.fired {
            Some(fired) if fired.account != account.path => format!(" (by {})", fired.account),
            _ => String::new(),
        };
        rows.push(vec![
            account.path.clone(),
            amounts(&account.limits),
            amounts(&account.consumed),
            amounts(&account.reserved),
            amounts(&account.remaining),
            format!("{:.1}%", account.fraction * 100.0),
            format!("{}{fired}", account.level),
            action_text,
        ]);
    }
    render(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_table() {
        let account = serde_json::json!({
            "path": "acme/wf-1", "limits": {"tokens": 100000}, "consumed": {"tokens": 45000},
            "reserved": {"tokens": 4000}, "remaining": {"tokens": 51000}, "fraction": 0.49,
            "level": "yellow", "action": {"kind": "warn"}, "fired": {"account": "acme", "dimension": "tokens", "fraction": 0.6},
            "pool": {}, "kind": null, "children": [], "last_activity_at": null, "seq": 7, "weight": 1.0,
            "priority": 0, "labels": {}, "thresholds": {"warn": 0.5, "throttle": 0.75, "degrade": 0.9, "stop": 0.95},
            "throttle_rate": 0.5, "reserve": 0.1, "open_reservations": 0, "work_units": 0
        });
        let account: AccountOut = serde_json::from_value(account).unwrap();
        let table = accounts(&[account]);
        assert_eq!(
            table,
            "ACCOUNT    LIMITS          SPENT          RESERVED      REMAINING      FRACTION  LEVEL             ACTION\n\
             acme/wf-1  tokens=100,000  tokens=45,000  tokens=4,000  tokens=51,000     49.0%  yellow (by acme)  warn\n"
        );
    }
}
