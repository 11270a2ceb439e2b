//! A digest: several waiting messages as one. It lists up to 20 alerts (number,
//! severity, summary, site) and counts the rest, so every alert is in exactly one
//! message however many waited.

use super::message::AlertRef;

/// Alerts a digest lists by name.
pub const LISTED: usize = 20;

/// The digest's text, in Slack-flavoured markdown (other formatters strip or keep it).
/// `others` counts waiting messages that were about no alert.
pub fn text(alerts: &[AlertRef], others: usize) -> String {
    let mut out = String::new();
    let sites: std::collections::BTreeSet<&str> = alerts
        .iter()
        .map(|a| a.site.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    let at = if sites.len() == 1 {
        format!(" at {}", sites.iter().next().copied().unwrap_or_default())
    } else {
        String::new()
    };
    out.push_str(&format!(
        "*{} alert{}{at}* (digest: this destination is at its rate limit)\n",
        alerts.len(),
        if alerts.len() == 1 { "" } else { "s" }
    ));
    for alert in alerts.iter().take(LISTED) {
        out.push_str(&format!(
            "• #{} [{}] {}{}\n",
            alert.number,
            alert.severity.to_uppercase(),
            alert.summary,
            if alert.site.is_empty() {
                String::new()
            } else {
                format!(" ({})", alert.site)
            }
        ));
    }
    if alerts.len() > LISTED {
        let more = alerts.len() - LISTED;
        out.push_str(&format!(
            "{more} more alert{}{at}\n",
            if more == 1 { "" } else { "s" }
        ));
    }
    if others > 0 {
        out.push_str(&format!(
            "{others} other message{} waited and {} included here.\n",
            if others == 1 { "" } else { "s" },
            if others == 1 { "is" } else { "are" }
        ));
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn alert(n: i64, site: &str) -> AlertRef {
        AlertRef {
            id: Uuid::new_v4(),
            number: n,
            summary: format!("Interface down {n}"),
            severity: "high".into(),
            site: site.into(),
            service_id: Uuid::nil(),
        }
    }

    #[test]
    fn lists_twenty_and_counts_the_rest() {
        let alerts: Vec<_> = (1..=57).map(|n| alert(n, "IAD1")).collect();
        let text = text(&alerts, 0);
        assert!(text.starts_with("*57 alerts at IAD1*"), "{text}");
        assert_eq!(text.matches("• #").count(), 20);
        assert!(text.contains("#20 [HIGH] Interface down 20 (IAD1)"));
        assert!(!text.contains("#21 "));
        assert!(text.ends_with("37 more alerts at IAD1"), "{text}");
    }

    #[test]
    fn few_alerts_are_all_listed() {
        let alerts = vec![alert(1, "IAD1"), alert(2, "FRA2")];
        let text = text(&alerts, 1);
        assert!(text.starts_with("*2 alerts* "));
        assert!(!text.contains("more alert"));
        assert!(text.contains("1 other message waited"));
    }
}
