//! What a repository may cost the agent: the size of one file, the size of one commit's
//! checkout, and whether repositories on the agent's own disk may be read at all.
//!
//! Pure: parsing and formatting sizes, and classifying URLs. The checks themselves run in
//! [`crate::checkout`] (before a byte is written) and in the fetcher (as gix's allocation
//! limit, so a huge object is refused while the pack is indexed, before it is ever held whole).

/// How much one repository may cost, and which repositories may be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceOptions {
    /// The largest file (blob) a checkout may hold, in bytes. Also gix's allocation limit, so
    /// no object larger than this is ever decompressed into memory, in a fetch or a checkout.
    pub max_file_size: u64,
    /// The largest total one commit's checkout may take, in bytes: the sum of its files, each
    /// file and directory counted as at least [`BLOCK`] bytes (what it costs on disk).
    pub max_checkout_size: u64,
    /// Whether `file://` URLs and local paths may be read. Off for an agent in a cluster: an
    /// Application must not be able to read the agent's own disk (its cache of other teams'
    /// private repositories, its state).
    pub allow_local: bool,
}

/// The smallest amount of disk a file or directory is counted as: one block. Without it a
/// commit of a million empty files would count as nothing.
pub const BLOCK: u64 = 4096;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;

/// GitHub refuses files over 100 MiB and warns over 50 MiB, so a deploy repository that meets
/// 64 MiB is holding something that is not configuration.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 * MIB;
/// GitHub asks that repositories stay under 1 GiB (its soft limit); a deploy repository's tree
/// at one commit is a few MiB.
pub const DEFAULT_MAX_CHECKOUT_SIZE: u64 = GIB;

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_checkout_size: DEFAULT_MAX_CHECKOUT_SIZE,
            allow_local: false,
        }
    }
}

impl SourceOptions {
    /// The defaults, with local repositories allowed: for tests, `tether up` and the CLI, which
    /// read the user's own disk on the user's own behalf.
    pub fn local() -> Self {
        SourceOptions {
            allow_local: true,
            ..SourceOptions::default()
        }
    }
}

/// Whether gix would read `url` from the local file system: `file://…`, an absolute or
/// relative path. Decided by gix's own URL parser, so what is refused is exactly what gix
/// would open locally.
pub fn is_local_url(url: &str) -> bool {
    match gix::url::parse(url.trim().as_bytes()) {
        Ok(parsed) => parsed.scheme == gix::url::Scheme::File,
        // Not a URL gix can use at all: connecting fails with its own error.
        Err(_) => false,
    }
}

/// Parse a size: a number of bytes, optionally with a unit: `K`/`Ki`/`KiB`, `M`/`Mi`/`MiB`,
/// `G`/`Gi`/`GiB`, all powers of 1024 (`KB`, `MB`, `GB` too: a limit is not worth a
/// distinction users get wrong). Case-insensitive; fractions allowed (`1.5Gi`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" | "b" => 1,
        "k" | "ki" | "kib" | "kb" => KIB,
        "m" | "mi" | "mib" | "mb" => MIB,
        "g" | "gi" | "gib" | "gb" => GIB,
        "t" | "ti" | "tib" | "tb" => 1024 * GIB,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use Ki, Mi or Gi)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 64Mi, 1Gi, 1048576)"))?;
    let bytes = value * factor as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 / 2.0 {
        return Err(format!("{text:?}: a size must be at least one byte"));
    }
    Ok(bytes as u64)
}

/// A size for people: `1.0 GiB`, `64.0 MiB`, `512 B`.
pub fn format_size(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB {
        format!("{:.1} KiB", bytes as f64 / KIB as f64)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(MIB));
        assert_eq!(parse_size("64Mi"), Ok(64 * MIB));
        assert_eq!(parse_size("64MiB"), Ok(64 * MIB));
        assert_eq!(parse_size("64m"), Ok(64 * MIB));
        assert_eq!(parse_size("64MB"), Ok(64 * MIB));
        assert_eq!(parse_size("1Gi"), Ok(GIB));
        assert_eq!(parse_size(" 1.5 GiB "), Ok(GIB + GIB / 2));
        assert_eq!(parse_size("100b"), Ok(100));
        assert_eq!(parse_size("4k"), Ok(4 * KIB));
        for bad in ["", "Mi", "-1", "0", "1Xi", "1ib", "1.2.3M", "abc"] {
            assert!(parse_size(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn sizes_format_for_people() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(64 * MIB), "64.0 MiB");
        assert_eq!(format_size(GIB), "1.0 GiB");
        assert_eq!(format_size(3 * KIB / 2), "1.5 KiB");
    }

    #[test]
    fn local_urls_are_what_gix_reads_from_disk() {
        for local in [
            "file:///srv/repo",
            "file://localhost/srv/repo",
            "/srv/repo",
            "./repo",
            "../repo",
            "repo",
            "/work/state/git/repos/other-0123",
        ] {
            assert!(is_local_url(local), "{local} is local");
        }
        for remote in [
            "https://github.com/org/repo.git",
            "http://gitea.svc:3000/org/repo",
            "ssh://git@github.com/org/repo.git",
            "git@github.com:org/repo.git",
            "git://example.com/repo",
        ] {
            assert!(!is_local_url(remote), "{remote} is not local");
        }
    }

    #[test]
    fn defaults_refuse_local_repositories() {
        assert!(!SourceOptions::default().allow_local);
        assert!(SourceOptions::local().allow_local);
        assert_eq!(SourceOptions::default().max_file_size, 64 * MIB);
        assert_eq!(SourceOptions::default().max_checkout_size, GIB);
    }
}
