//! Postgres connection URLs: masking the password for logs, and pointing a URL at another
//! database on the same server (test databases).

/// The part of a `postgres://` URL between the scheme and the path: `(start, end)` byte offsets.
fn authority(url: &str) -> Option<(usize, usize)> {
    let scheme_end = url.find("://")? + 3;
    let scheme = &url[..scheme_end - 3];
    if !scheme.eq_ignore_ascii_case("postgres") && !scheme.eq_ignore_ascii_case("postgresql") {
        return None;
    }
    let end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    Some((scheme_end, end))
}

/// The URL with its password replaced by `***`, safe to log. A key/value connection string
/// (`host=… password=…`) is not echoed at all.
pub(crate) fn redact(url: &str) -> String {
    let Some((start, end)) = authority(url) else {
        return "<postgres connection string>".to_owned();
    };
    let mut out = String::with_capacity(url.len());
    // The user info ends at the LAST '@' of the authority; its password after the first ':'.
    match url[start..end].rfind('@').map(|at| start + at) {
        Some(at) => match url[start..at].find(':') {
            Some(colon) => {
                out.push_str(&url[..start + colon + 1]);
                out.push_str("***");
                out.push_str(&url[at..end]);
            }
            None => out.push_str(&url[..end]),
        },
        None => out.push_str(&url[..end]),
    }
    // Query parameters may carry a password too (`?password=…`).
    let rest = &url[end..];
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&masked.join("&"));
        }
        None => out.push_str(rest),
    }
    out
}

/// The same server and options, database `name`. Handles `postgres://` URLs (path replaced,
/// query kept minus any `dbname=` override) and key/value strings (a later `dbname` wins).
#[cfg(feature = "test-support")]
pub(crate) fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "database name {name:?} must be ASCII letters, digits and '_'"
    );
    let Some((_, end)) = authority(url) else {
        anyhow::ensure!(url.contains('='), "not a postgres:// URL nor a key=value connection string");
        return Ok(format!("{url} dbname={name}"));
    };
    let rest = &url[end..];
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    let kept: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && p.split('=').next() != Some("dbname")).collect();
    let mut out = format!("{}/{name}", &url[..end]);
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(fragment);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        assert_eq!(redact("postgres://app:s3cr%40t@db:5432/brokerage"), "postgres://app:***@db:5432/brokerage");
        assert_eq!(
            redact("postgresql://app@db/brokerage?sslmode=disable"),
            "postgresql://app@db/brokerage?sslmode=disable"
        );
        assert_eq!(redact("postgres://db/x?user=a&password=hunter2"), "postgres://db/x?user=a&password=***");
        assert_eq!(redact("host=db password=hunter2"), "<postgres connection string>");
        assert!(!redact("postgres://u:p@ss@h/d").contains("p@ss"));
    }

    #[cfg(feature = "test-support")]
    #[test]
    fn the_database_name_is_replaced_and_the_options_kept() {
        let cases = [
            ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/t_1"),
            ("postgres://u:p@h/postgres?sslmode=disable", "postgres://u:p@h/t_1?sslmode=disable"),
            ("postgres://h?dbname=other&application_name=x", "postgres://h/t_1?application_name=x"),
            ("postgres://h", "postgres://h/t_1"),
            ("host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=t_1"),
        ];
        for (url, want) in cases {
            assert_eq!(with_database(url, "t_1").expect("valid"), want, "{url}");
        }
        assert!(with_database("postgres://h/x", "bad\"name").is_err());
    }
}
