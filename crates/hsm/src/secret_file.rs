//! Secret files (the domain key, the root access key's secret): read only when no other
//! local user can read them too, so a secret is never taken from a file it already leaked
//! from. The rule is PostgreSQL's for its key files, which keeps Kubernetes Secret volumes
//! working (they are mounted root-owned, group = the pod's `fsGroup`, mode 0440):
//!
//! - a file owned by the user trentd runs as has no group or other permissions (0600, 0400);
//! - a file owned by root may be group-readable (0640, 0440), never other-readable;
//! - a file owned by anyone else is refused.
//!
//! The mode is checked on the opened file, so the file read is the file checked.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

/// Largest secret file read: keys and secrets are a few dozen bytes.
const MAX_LEN: u64 = 64 * 1024;

/// The contents of the secret file at `path`, configured by `setting` (named in every
/// error, with the path and the fix), if its owner and mode pass the rule above.
pub fn read_secret_file(path: &Path, setting: &str) -> Result<Zeroizing<String>, String> {
    let at = |e: std::io::Error| format!("{setting}: {}: {e}", path.display());
    let file = File::open(path).map_err(at)?;
    let meta = file.metadata().map_err(at)?;
    if !meta.is_file() {
        return Err(format!(
            "{setting}: {} is not a regular file",
            path.display()
        ));
    }
    let shown = path.display().to_string();
    check_owner_and_mode(&shown, meta.uid(), meta.mode(), effective_uid())
        .map_err(|problem| format!("{setting}: {problem}"))?;
    if meta.len() > MAX_LEN {
        return Err(format!(
            "{setting}: {} holds {} bytes; a secret file is at most {MAX_LEN}",
            path.display(),
            meta.len()
        ));
    }
    // Room for all of it up front: a growing String would leave copies behind unzeroized.
    let mut text = Zeroizing::new(String::with_capacity(meta.len() as usize + 1));
    file.take(MAX_LEN).read_to_string(&mut text).map_err(at)?;
    Ok(text)
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// PostgreSQL's rule for `file`, owned by `owner` with `mode`, read by a process running as
/// `euid`; the error names the file and says how to fix it.
fn check_owner_and_mode(file: &str, owner: u32, mode: u32, euid: u32) -> Result<(), String> {
    let shown = format!("{:04o}", mode & 0o7777);
    if owner == euid {
        return match mode & 0o077 {
            0 => Ok(()),
            _ => Err(format!(
                "{file} has mode {shown}: group or others can access it. A secret file owned by \
                 trentd's user (uid {euid}) must be readable by that user only; fix: \
                 chmod 0600 {file}"
            )),
        };
    }
    if owner == 0 {
        return match mode & 0o037 {
            0 => Ok(()),
            _ => Err(format!(
                "{file} has mode {shown} and is owned by root: others can access it or its group \
                 can do more than read it. A root-owned secret file may be readable by its \
                 group at most; fix: chmod 0640 {file} (or 0440)"
            )),
        };
    }
    Err(format!(
        "{file} is owned by uid {owner}, neither trentd's user (uid {euid}) nor root, so that user \
         controls it; fix: chown {euid} {file} and chmod 0600 {file} (or chown root and \
         chmod 0640, readable by a group trentd is in)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const ME: u32 = 10001;

    #[test]
    fn owner_only_files_of_trentds_user_are_accepted_and_nothing_wider() {
        for mode in [0o100600, 0o100400, 0o100700, 0o100200] {
            assert_eq!(check_owner_and_mode("f", ME, mode, ME), Ok(()), "{mode:o}");
        }
        for (mode, shown) in [
            (0o100640, "0640"),
            (0o100604, "0604"),
            (0o100644, "0644"),
            (0o100660, "0660"),
            (0o100610, "0610"),
            (0o100601, "0601"),
        ] {
            let e = check_owner_and_mode("f", ME, mode, ME).unwrap_err();
            assert!(e.contains(shown) && e.contains("chmod 0600"), "{e}");
        }
    }

    #[test]
    fn root_owned_files_may_be_group_readable_like_kubernetes_secrets() {
        for mode in [0o100600, 0o100400, 0o100640, 0o100440] {
            assert_eq!(check_owner_and_mode("f", 0, mode, ME), Ok(()), "{mode:o}");
        }
        for mode in [0o100644, 0o100444, 0o100660, 0o100650, 0o100604, 0o100641] {
            let e = check_owner_and_mode("f", 0, mode, ME).unwrap_err();
            assert!(
                e.contains("owned by root") && e.contains("chmod 0640"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_process_running_as_root_gets_the_owner_rule() {
        assert_eq!(check_owner_and_mode("f", 0, 0o100600, 0), Ok(()));
        let e = check_owner_and_mode("f", 0, 0o100640, 0).unwrap_err();
        assert!(e.contains("chmod 0600"), "{e}");
    }

    #[test]
    fn files_of_other_users_are_refused_whatever_their_mode() {
        for mode in [0o100600, 0o100400, 0o100640] {
            let e = check_owner_and_mode("f", 4242, mode, ME).unwrap_err();
            assert!(e.contains("uid 4242") && e.contains("chown"), "{e}");
        }
    }

    #[test]
    fn reading_names_the_setting_the_path_and_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_secret_file(&path, "some_setting").unwrap_err();
        let shown = path.display().to_string();
        for says in ["some_setting", shown.as_str(), "0644", "chmod 0600"] {
            assert!(e.contains(says), "{says}: {e}");
        }
        assert!(!e.contains("s3cret"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_secret_file(&path, "some_setting").unwrap().as_str(),
            "s3cret\n"
        );
        let e = read_secret_file(dir.path(), "some_setting").unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_secret_file(&dir.path().join("nope"), "some_setting").unwrap_err();
        assert!(e.contains("some_setting") && e.contains("nope"), "{e}");
    }
}
