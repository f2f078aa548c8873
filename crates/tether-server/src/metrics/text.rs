//! The classic Prometheus text format (0.0.4), for clients that do not ask for
//! OpenMetrics (curl, `promtool check metrics`, older scrapers).
//!
//! `prometheus-client` writes OpenMetrics, which differs from the classic format in two
//! ways that matter: a counter family is named without its `_total` suffix (`# TYPE
//! tether_sync counter` over `tether_sync_total` samples), and the text ends in `# EOF`.
//! Prometheus negotiates OpenMetrics and reads it as is; everyone else gets this.

/// The classic format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Rewrite OpenMetrics text into the classic format.
pub fn from_openmetrics(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut help: Option<&str> = None;
    for line in text.lines() {
        if line == "# EOF" {
            continue;
        }
        if line.starts_with("# HELP ") {
            if let Some(h) = help.take() {
                out.push_str(h);
                out.push('\n');
            }
            help = Some(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
            && !name.ends_with("_total")
        {
            if let Some(h) = help.take() {
                let prefix = format!("# HELP {name} ");
                match h.strip_prefix(&prefix) {
                    Some(text) => out.push_str(&format!("# HELP {name}_total {text}\n")),
                    None => {
                        out.push_str(h);
                        out.push('\n');
                    }
                }
            }
            out.push_str(&format!("# TYPE {name}_total counter\n"));
            continue;
        }
        if let Some(h) = help.take() {
            out.push_str(h);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    if let Some(h) = help {
        out.push_str(h);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_their_total_name_and_eof_goes() {
        let om = "# HELP tether_sync Syncs.\n# TYPE tether_sync counter\ntether_sync_total{phase=\"Succeeded\"} 1\n# HELP up Up.\n# TYPE up gauge\nup 1\n# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n# EOF\n";
        assert_eq!(
            from_openmetrics(om),
            "# HELP tether_sync_total Syncs.\n# TYPE tether_sync_total counter\ntether_sync_total{phase=\"Succeeded\"} 1\n# HELP up Up.\n# TYPE up gauge\nup 1\n# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n"
        );
    }
}
