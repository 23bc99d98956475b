//! Static files of the map page: an index made once at start, so only files that were in
//! `--www` then can ever be served — no path from a request is ever joined onto the disk path.
//!
//! `FILE.gz` beside `FILE` is sent to clients that accept gzip. A `FILE.gz` alone (the OpenWrt
//! package installs only the compressed copies of the page) is served as `FILE`, compressed:
//! to clients that accept gzip or name no coding; the few that refuse gzip get 406. (Inflating
//! it for them took 17 KB of the MIPS binary, for clients that are not browsers.)

use std::path::{Path, PathBuf};

const MAX_FILES: usize = 2000;
const MAX_DEPTH: usize = 8;

/// One servable file.
#[derive(Debug, Clone)]
pub struct StaticFile {
    /// The file on disk; the `.gz` itself when `gz_only` is set.
    pub path: PathBuf,
    /// `FILE.gz` beside it, to send when the client accepts gzip.
    pub gz: Option<PathBuf>,
    /// Only the gzip form exists (`path` = `gz`).
    pub gz_only: bool,
    pub content_type: &'static str,
    /// Content-hashed names (`app.3f9a1c2b.js`) never change: cache them for a year.
    pub immutable: bool,
}

/// URL path (`/js/app.js`) → file: a list searched in order (a page is a dozen files, at most
/// `MAX_FILES`), with no hash table code for these key types in the binary.
#[derive(Debug, Default)]
pub struct StaticFiles {
    files: Vec<(String, StaticFile)>,
}

impl StaticFiles {
    /// Walks `dir` (regular files only, no symlinked directories, no dot files).
    pub fn scan(dir: &Path) -> Result<StaticFiles, String> {
        let mut found = Vec::new();
        walk(dir, "", 0, &mut found).map_err(|e| format!("{}: {e}", dir.display()))?;
        let has = |name: &str| found.iter().any(|(u, _)| u == name);
        let mut files = Vec::new();
        for (url, path) in &found {
            let (url, path) = (url.clone(), path.clone());
            if let Some(base) = url.strip_suffix(".gz") {
                if has(base) {
                    continue; // served as the gzip form of `base`
                }
                // alone: the compressed copy of a page file, served under its own name
                if known_type(base).is_some() {
                    files.push((
                        base.to_string(),
                        StaticFile {
                            gz: Some(path.clone()),
                            path,
                            gz_only: true,
                            content_type: content_type(base),
                            immutable: is_hashed(base),
                        },
                    ));
                    continue;
                }
            }
            let gz_url = format!("{url}.gz");
            let gz = has(&gz_url).then(|| {
                path.with_file_name(format!(
                    "{}.gz",
                    path.file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default()
                ))
            });
            let content_type = content_type(&url);
            let immutable = is_hashed(&url);
            files.push((
                url,
                StaticFile {
                    path,
                    gz,
                    gz_only: false,
                    content_type,
                    immutable,
                },
            ));
        }
        Ok(StaticFiles { files })
    }

    pub fn get(&self, url_path: &str) -> Option<&StaticFile> {
        self.files
            .iter()
            .find(|(u, _)| u == url_path)
            .map(|(_, f)| f)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, PathBuf)>,
) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    // names that are not UTF-8 are skipped; sorted as Strings (the binary's one sort of them)
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        if out.len() >= MAX_FILES {
            log::warn!("www: more than {MAX_FILES} files; the rest are not served");
            return Ok(());
        }
        if name.starts_with('.') {
            continue;
        }
        let path = dir.join(&name);
        // (not following symlinks, like the directory entry's own type)
        let Ok(ft) = std::fs::symlink_metadata(&path).map(|m| m.file_type()) else {
            continue;
        };
        let url = format!("{prefix}/{name}");
        if ft.is_dir() {
            walk(&path, &url, depth + 1, out)?;
        } else if ft.is_file() {
            out.push((url, path));
        }
    }
    Ok(())
}

const OCTET_STREAM: &str = "application/octet-stream";

pub fn content_type(url: &str) -> &'static str {
    known_type(url).unwrap_or(OCTET_STREAM)
}

/// The type of a file the page is made of, by extension; None for other files.
fn known_type(url: &str) -> Option<&'static str> {
    let ext = url.rsplit('.').next().unwrap_or("");
    Some(match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "topojson" | "geojson" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        "map" => "application/json",
        "bin" => OCTET_STREAM, // the map data (www/src/world.js)
        _ => return None,
    })
}

/// `name.<8+ hex>.ext`
fn is_hashed(url: &str) -> bool {
    let file = url.rsplit('/').next().unwrap_or("");
    let parts: Vec<&str> = file.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1]
            .iter()
            .any(|p| p.len() >= 8 && p.bytes().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_and_lookup() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("js")).unwrap();
        std::fs::write(d.path().join("index.html"), "<html>").unwrap();
        std::fs::write(d.path().join("index.html.gz"), "gz").unwrap();
        std::fs::write(d.path().join("js/app.0123abcd.js"), "x").unwrap();
        std::fs::write(d.path().join(".hidden"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("etc")).unwrap();
        let f = StaticFiles::scan(d.path()).unwrap();
        assert_eq!(f.len(), 2);
        let idx = f.get("/index.html").unwrap();
        assert!(idx.gz.is_some() && !idx.immutable);
        assert!(f.get("/js/app.0123abcd.js").unwrap().immutable);
        assert!(f.get("/index.html.gz").is_none());
        assert!(f.get("/.hidden").is_none());
        assert!(f.get("/etc/passwd").is_none());
    }

    #[test]
    fn gzip_only_files_are_served_under_their_own_name() {
        let d = tempfile::tempdir().unwrap();
        let js = "console.log('map');\n".repeat(100);
        std::fs::write(d.path().join("app.0123abcd.js.gz"), gz(js.as_bytes())).unwrap();
        std::fs::write(d.path().join("index.html"), "<html>").unwrap();
        std::fs::write(d.path().join("index.html.gz"), gz(b"<html>")).unwrap();
        // not a page file: served as it is, under its own name
        std::fs::write(d.path().join("data.dat.gz"), gz(b"x")).unwrap();
        let f = StaticFiles::scan(d.path()).unwrap();
        assert_eq!(f.len(), 3);
        let app = f.get("/app.0123abcd.js").unwrap();
        assert!(app.gz_only && app.immutable);
        assert_eq!(app.gz.as_deref(), Some(app.path.as_path()));
        assert_eq!(app.content_type, "text/javascript; charset=utf-8");
        assert!(f.get("/app.0123abcd.js.gz").is_none());
        let idx = f.get("/index.html").unwrap();
        assert!(!idx.gz_only && idx.path.ends_with("index.html") && idx.gz.is_some());
        let bin = f.get("/data.dat.gz").unwrap();
        assert!(!bin.gz_only && bin.gz.is_none());
        assert!(f.get("/data.dat").is_none());
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn types_and_hashes() {
        assert_eq!(content_type("/a.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/x"), "application/octet-stream");
        assert!(is_hashed("/app.deadbeef.js"));
        assert!(is_hashed("/world.0123456789abcdef.json"));
        assert!(!is_hashed("/app.js"));
        assert!(!is_hashed("/app.v1.js"));
    }
}
