//! Giving back the shim's clean code pages.
//!
//! Creating the container (spec, mounts, namespaces, seccomp) runs a large part of tug's
//! static binary, and every page of code and read-only data it touched, plus the kernel's
//! fault-around neighbours (64 KiB at a time), would stay in the shim's RSS for the
//! container's whole life, although the loop that follows needs little of it; requests and
//! log traffic later add more. Those pages are clean and file-backed: dropping them from this
//! process's page tables loses nothing (they stay in the page cache, shared with the daemon
//! and the other shims) and the loop faults back in what it uses. The shim drops them once
//! the container runs, and again when it has been idle for a while after some activity.

/// One mapping of /proc/self/smaps that may be dropped.
#[derive(Debug, PartialEq, Eq)]
struct Clean {
    start: usize,
    end: usize,
}

/// The private, read-only, file-backed mappings with no copied-on-write page in `smaps`.
fn clean_mappings(smaps: &str) -> Vec<Clean> {
    let mut out = Vec::new();
    let mut current: Option<Clean> = None;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            // A mapping's header: range perms offset dev inode [path].
            let perms = f.next().unwrap_or_default();
            let inode = f.nth(2).unwrap_or("0");
            current = match (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                (Ok(start), Ok(end))
                    if perms.len() == 4
                        && !perms.contains('w')
                        && perms.ends_with('p')
                        && inode != "0" =>
                {
                    Some(Clean { start, end })
                }
                _ => None,
            };
        } else if first == "Anonymous:" {
            // Written pages (relocations, RELRO) must stay: dropping would lose them.
            let anon = f.next().unwrap_or("1");
            if let Some(c) = current.take() {
                if anon == "0" {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// Drop this process's clean file-backed pages (see the module's comment).
pub(super) fn drop_clean_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for m in clean_mappings(&smaps) {
        // SAFETY: the range is a whole private, read-only, file-backed mapping of this process
        // without any anonymous (written) page, so MADV_DONTNEED only unmaps pages that are
        // read back unchanged from the file on the next access; no Rust object lives there.
        unsafe {
            libc::madvise(
                m.start as *mut libc::c_void,
                m.end - m.start,
                libc::MADV_DONTNEED,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
00200000-004b9000 r--p 00000000 fe:00 893405                             /run/tug/exe/tug-1
Size:               2788 kB
Rss:                 448 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
004b9000-01067000 r-xp 002b8000 fe:00 893405                             /run/tug/exe/tug-1
Rss:                3832 kB
Anonymous:             0 kB
01067000-0106d000 r--p 00e65000 fe:00 893405                             /run/tug/exe/tug-1
Rss:                  24 kB
Anonymous:            24 kB
0106d000-01071000 rw-p 00e6a000 fe:00 893405                             /run/tug/exe/tug-1
Anonymous:            16 kB
084a2000-084c4000 rw-p 00000000 00:00 0                                  [heap]
Anonymous:           136 kB
7f12edac0000-7f12edac2000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
";

    #[test]
    fn only_clean_read_only_file_mappings() {
        assert_eq!(
            clean_mappings(SMAPS),
            vec![
                Clean {
                    start: 0x200000,
                    end: 0x4b9000
                },
                Clean {
                    start: 0x4b9000,
                    end: 0x1067000
                },
            ]
        );
    }

    #[test]
    fn own_smaps_parse_and_dropping_keeps_the_process_working() {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        assert!(!clean_mappings(&smaps).is_empty());
        drop_clean_pages();
        // Code and constants come back from the file.
        assert_eq!(format!("{:?}", vec![1, 2, 3]), "[1, 2, 3]");
    }
}
