//! The emulator under test beside a reference build of it (`BENCH_REFERENCE_EMULATOR`), measured in
//! the same rounds: each workload and concurrency's rate and p99 for both builds, and their ratios.

use crate::report::{fmt_ratio, get, Agg, AggKey, OURS, OURS_MEM, RSS_EQUAL, RSS_WHOLE};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Label of the reference build's durable emulator.
pub const REFERENCE: &str = "emulator-durable-ref";
/// Label of the reference build's in-memory emulator.
pub const REFERENCE_MEM: &str = "emulator-mem-ref";

fn pair(a: &BTreeMap<AggKey, Agg>, ours: &str, reference: &str, w: &str, c: usize) -> String {
    match (get(a, ours, w, c), get(a, reference, w, c)) {
        (Some(o), Some(r)) => format!(
            "{:.0} / {:.0} | {} | {:.2} / {:.2}",
            o.rps,
            r.rps,
            fmt_ratio((r.rps > 0.0).then(|| o.rps / r.rps)),
            o.p99_ms,
            r.p99_ms
        ),
        _ => "n/a | n/a | n/a".to_owned(),
    }
}

/// The side-by-side table, or None when no reference build was measured.
pub fn reference_table(a: &BTreeMap<AggKey, Agg>, concurrencies: &[usize]) -> Option<String> {
    if !a
        .keys()
        .any(|(t, _, _)| t == REFERENCE || t == REFERENCE_MEM)
    {
        return None;
    }
    let mut s = String::from(
        "| workload | c | durable req/s: this / reference | ratio | durable p99 ms: this / reference | in-memory req/s: this / reference | ratio | in-memory p99 ms: this / reference |\n|---|---|---|---|---|---|---|---|\n",
    );
    for w in ["read", "write", "mixed", "create"] {
        for &c in concurrencies {
            let _ = writeln!(
                s,
                "| {w} | {c} | {} | {} |",
                pair(a, OURS, REFERENCE, w, c),
                pair(a, OURS_MEM, REFERENCE_MEM, w, c)
            );
        }
    }
    let mib = |t: &str, w: &str| {
        get(a, t, w, 0)
            .and_then(|r| r.extra.get("peak_rss_kib"))
            .map_or("n/a".to_owned(), |k| format!("{:.1}", k / 1024.0))
    };
    s.push_str("\n| peak RSS (MiB) | this durable | reference durable | this in-memory | reference in-memory |\n|---|---|---|---|---|\n");
    for (label, w) in [("time-bound phases", RSS_WHOLE), ("equal data", RSS_EQUAL)] {
        let _ = writeln!(
            s,
            "| {label} | {} | {} | {} | {} |",
            mib(OURS, w),
            mib(REFERENCE, w),
            mib(OURS_MEM, w),
            mib(REFERENCE_MEM, w)
        );
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate;
    use crate::stats::RunResult;

    fn line(target: &str, workload: &str, c: usize, rps: f64, p99: f64) -> RunResult {
        RunResult::sample(target, workload, c, rps, p99)
    }

    #[test]
    fn absent_without_a_reference_and_ratioed_with_one() {
        let ours = [line(OURS, "read", 16, 900.0, 2.0)];
        assert!(reference_table(&aggregate(&ours), &[16]).is_none());
        let both = [
            line(OURS, "read", 16, 900.0, 2.0),
            line(REFERENCE, "read", 16, 1000.0, 2.5),
        ];
        let t = reference_table(&aggregate(&both), &[16]).expect("table");
        let row = t
            .lines()
            .find(|l| l.starts_with("| read | 16"))
            .expect("row");
        assert!(
            row.contains("| 900 / 1000 | 0.90× | 2.00 / 2.50 |"),
            "{row}"
        );
        assert!(row.ends_with("n/a | n/a | n/a |"), "{row}");
    }
}
